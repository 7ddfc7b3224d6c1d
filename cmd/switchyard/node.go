package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/internal/cli"
)

// addNodeCommands adds the commands that reach a pod's node (through the
// API server and the node's node server).
func addNodeCommands(root *cobra.Command, g *globalFlags) {
	root.AddCommand(newLogsCmd(g), newExecCmd(g))
}

func stdStreams() cli.IOStreams {
	return cli.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
}

func newLogsCmd(g *globalFlags) *cobra.Command {
	var ns, container string
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER] [-f]",
		Short: "Print a pod container's log (through the API server, like kubectl logs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClient(cmd, g, func(ctx context.Context, s cli.IOStreams, cfg *rest.Config) error {
				return cli.Logs(ctx, s, cfg, ns, args[0], container, follow)
			})
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", cli.DefaultNamespace, "namespace of the pod")
	cmd.Flags().StringVarP(&container, "container", "c", "", "container (default: the first)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing as the log grows")
	return cmd
}

func newExecCmd(g *globalFlags) *cobra.Command {
	var ns, container string
	cmd := &cobra.Command{
		Use:   "exec POD [-c CONTAINER] -- COMMAND [ARG...]",
		Short: "Run a command in a pod's container (through the API server, like kubectl exec)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClient(cmd, g, func(ctx context.Context, s cli.IOStreams, cfg *rest.Config) error {
				code, err := cli.Exec(ctx, s, cfg, ns, args[0], container, args[1:])
				if err == nil && code != 0 {
					os.Exit(code)
				}
				return err
			})
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", cli.DefaultNamespace, "namespace of the pod")
	cmd.Flags().StringVarP(&container, "container", "c", "", "container (default: the first)")
	return cmd
}
