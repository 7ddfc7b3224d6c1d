package main

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/internal/cli"
)

// addStatusCommand adds `switchyard status` (per node: load-balancer,
// services and endpoints programmed, last sync, error) and `switchyard
// status services` (every service port with its backends); the logic
// lives in internal/cli.
func addStatusCommand(root *cobra.Command, g *globalFlags) {
	var o cli.StatusOptions
	run := func(cmd *cobra.Command, o cli.StatusOptions) error {
		return runClient(cmd, g, func(ctx context.Context, s cli.IOStreams, cfg *rest.Config) error {
			return cli.Status(ctx, s, cfg, o)
		})
	}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each node's service load-balancer: backend, services and endpoints programmed, last sync, errors",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return run(cmd, o) },
	}
	addStatusFlags(cmd, &o)
	var so cli.StatusOptions
	services := &cobra.Command{
		Use:   "services",
		Short: "List every programmed service port with its frontends and backends (like cilium service list)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			so.Services = true
			return run(cmd, so)
		},
	}
	addStatusFlags(services, &so)
	cmd.AddCommand(services)
	var po cli.StatusOptions
	policies := &cobra.Command{
		Use:   "policies",
		Short: "Show per node the NetworkPolicies enforced and the pods they isolate (ingress, egress)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runClient(cmd, g, func(ctx context.Context, s cli.IOStreams, cfg *rest.Config) error {
				return cli.StatusPolicies(ctx, s, cfg, po)
			})
		},
	}
	addStatusFlags(policies, &po)
	cmd.AddCommand(policies)
	root.AddCommand(cmd)
}

func addStatusFlags(cmd *cobra.Command, o *cli.StatusOptions) {
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: wide (with the service list), json or yaml")
	cmd.Flags().StringVar(&o.Node, "node", "", "only this node")
}
