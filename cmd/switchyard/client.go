package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/internal/cli"
)

// version is the release, set at build time with -ldflags "-X main.version=…".
var version = "dev"

// addClientCommands adds the kubectl-like commands (apply, get, delete,
// version); their logic lives in internal/cli.
func addClientCommands(root *cobra.Command, g *globalFlags) {
	root.AddCommand(newApplyCmd(g), newGetCmd(g), newDeleteCmd(g), newVersionCmd(g))
}

func newApplyCmd(g *globalFlags) *cobra.Command {
	var files []string
	var namespace string
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|-",
		Short: "Create or update objects from manifests (client-side apply, like kubectl apply)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runClient(cmd, g, func(ctx context.Context, s cli.IOStreams, cfg *rest.Config) error {
				return cli.Apply(ctx, s, cfg, files, namespace)
			})
		},
	}
	cmd.Flags().StringSliceVarP(&files, "filename", "f", nil, "manifest file, directory of *.yaml|*.yml|*.json, or - for stdin (repeatable)")
	_ = cmd.MarkFlagRequired("filename")
	addNamespaceFlag(cmd, &namespace)
	return cmd
}

func newGetCmd(g *globalFlags) *cobra.Command {
	var o cli.GetOptions
	cmd := &cobra.Command{
		Use:   "get KIND [NAME...] | TYPE/NAME...",
		Short: "Show objects, like kubectl get",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClient(cmd, g, func(ctx context.Context, s cli.IOStreams, cfg *rest.Config) error {
				return cli.Get(ctx, s, cfg, args, o)
			})
		},
	}
	f := cmd.Flags()
	addNamespaceFlag(cmd, &o.Namespace)
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	f.StringVarP(&o.Output, "output", "o", "", "output format: wide, yaml, json or name")
	f.StringVarP(&o.LabelSelector, "selector", "l", "", "label selector, e.g. app=web")
	f.StringVar(&o.FieldSelector, "field-selector", "", "field selector, e.g. metadata.name=web")
	f.BoolVarP(&o.Watch, "watch", "w", false, "after listing, watch for changes")
	f.BoolVar(&o.NoHeaders, "no-headers", false, "print tables without headers")
	return cmd
}

func newDeleteCmd(g *globalFlags) *cobra.Command {
	var o cli.DeleteOptions
	cmd := &cobra.Command{
		Use:   "delete KIND NAME... | TYPE/NAME... | -f FILE|DIR|-",
		Short: "Delete objects, like kubectl delete",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClient(cmd, g, func(ctx context.Context, s cli.IOStreams, cfg *rest.Config) error {
				return cli.Delete(ctx, s, cfg, args, o)
			})
		},
	}
	cmd.Flags().StringSliceVarP(&o.Paths, "filename", "f", nil, "delete the objects of these manifests (repeatable; - for stdin)")
	cmd.Flags().BoolVar(&o.IgnoreNotFound, "ignore-not-found", false, "treat objects that do not exist as deleted")
	addNamespaceFlag(cmd, &o.Namespace)
	return cmd
}

func newVersionCmd(g *globalFlags) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client and server versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if clientOnly {
				return cli.Version(cmd.Context(), streams(cmd), version, nil)
			}
			return runClient(cmd, g, func(ctx context.Context, s cli.IOStreams, cfg *rest.Config) error {
				return cli.Version(ctx, s, version, cfg)
			})
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only the client version")
	return cmd
}

func addNamespaceFlag(cmd *cobra.Command, ns *string) {
	cmd.Flags().StringVarP(ns, "namespace", "n", "", `namespace (default: the manifest's, else "default")`)
}

func streams(cmd *cobra.Command) cli.IOStreams {
	return cli.IOStreams{In: cmd.InOrStdin(), Out: cmd.OutOrStdout(), ErrOut: cmd.ErrOrStderr()}
}

// runClient loads the kubeconfig and runs a client command until it ends
// or SIGINT/SIGTERM. Errors are printed the way kubectl prints them (not
// with main's "error:" prefix) and exit with status 1.
func runClient(cmd *cobra.Command, g *globalFlags, run func(context.Context, cli.IOStreams, *rest.Config) error) error {
	s := streams(cmd)
	cfg, err := cli.LoadConfig(g.kubeconfig)
	if err == nil {
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		err = run(ctx, s, cfg)
		stop()
	} else if cmd.Name() == "version" {
		_ = cli.Version(cmd.Context(), s, version, nil)
	}
	if err != nil {
		fmt.Fprint(s.ErrOut, cli.FormatError(err))
		os.Exit(1)
	}
	return nil
}
