package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/internal/cli"
)

// addNodeCommands adds the commands that talk to the local node agent.
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
		Short: "Print a pod container's log (on the node running the pod)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cli.Logs(cmd.Context(), stdStreams(), cli.AgentSocket(g.kubeconfig), ns, args[0], container, follow)
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
		Short: "Run a command in a pod's namespaces (on the node running the pod)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			code, err := cli.Exec(cmd.Context(), stdStreams(), cli.AgentSocket(g.kubeconfig), ns, args[0], container, args[1:])
			if err != nil {
				return err
			}
			if code != 0 {
				os.Exit(code)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", cli.DefaultNamespace, "namespace of the pod")
	cmd.Flags().StringVarP(&container, "container", "c", "", "container (default: the first)")
	return cmd
}
