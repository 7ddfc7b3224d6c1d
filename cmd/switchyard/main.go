// Command switchyard is the single binary of switchyard: the daemon (control
// plane and node agent), the kubectl-like client commands, the sandbox helper
// and, when invoked as switchyard-cni or with CNI_COMMAND set, a CNI plugin.
//
// This package only parses flags and wires components together; behaviour
// lives in the component packages.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/dataplane/runner"
)

// globalFlags are the flags every client subcommand shares.
type globalFlags struct {
	// kubeconfig is the path given with --kubeconfig; empty means
	// $KUBECONFIG, then the default data dir's admin.kubeconfig.
	kubeconfig string
}

func main() {
	// Pod containers start as a re-exec of this binary that enters the
	// pod's namespaces first; it never returns when it handles the call.
	if runner.ShimMain() {
		return
	}
	// Invoked as switchyard-cni or with CNI_COMMAND set: a CNI plugin.
	if cniMain() {
		return
	}
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "switchyard",
		Short:         "Container-network dataplane and ingress proxy with a Kubernetes-compatible API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.kubeconfig, "kubeconfig", "",
		"kubeconfig file (default $KUBECONFIG, then /var/lib/switchyard/admin.kubeconfig)")
	addClientCommands(root, g)
	addDaemonCommands(root, g)
	root.AddCommand(newNetexecCmd())
	root.AddCommand(newEchoBasicCmd(), newAgnhostCmd(), newCoreDNSCmd())
	root.AddCommand(newInClusterCmd())
	root.AddCommand(newCertsCmd())
	addNodeCommands(root, g)
	addStatusCommand(root, g)
	root.AddCommand(newBenchCmd(g))
	return root
}
