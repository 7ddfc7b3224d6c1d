package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// newSandboxCmd is `switchyard sandbox up|down|exec|list`: a switchyard
// node in a throwaway network namespace. The logic lives in
// internal/sandbox.
func newSandboxCmd(_ *globalFlags) *cobra.Command {
	var registry string
	cmd := &cobra.Command{
		Use:   "sandbox",
		Short: "Run a switchyard node in a throwaway network namespace (needs root)",
		Long: `A sandbox is a network namespace with switchyard daemon inside, its own data
dir and cgroup. Nothing it does touches the host's network namespace. Its API
listens on 127.0.0.1:6443 inside the namespace: run clients with sandbox exec.`,
	}
	cmd.PersistentFlags().StringVar(&registry, "registry", sandbox.DefaultRegistryDir, "directory of sandbox records")
	_ = cmd.PersistentFlags().MarkHidden("registry")
	cmd.AddCommand(newSandboxUpCmd(&registry), newSandboxDownCmd(&registry),
		newSandboxExecCmd(&registry), newSandboxListCmd(&registry))
	return cmd
}

func newSandboxUpCmd(registry *string) *cobra.Command {
	var o sandbox.Options
	var nodes, controlPlanes int
	cmd := &cobra.Command{
		Use:   "up [--name NAME] [--nodes N --control-planes M] [--data-dir DIR] [--binary PATH] [-- DAEMON FLAGS...]",
		Short: "Create a sandbox (or a cluster of sandbox nodes) and start the daemon in it; returns once its API is ready",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && cmd.ArgsLenAtDash() != 0 {
				return fmt.Errorf("unexpected argument %q (daemon flags go after --)", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot(); err != nil {
				return err
			}
			o.ExtraArgs, o.RegistryDir = args, *registry
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if nodes > 1 || controlPlanes > 1 {
				return upCluster(ctx, cmd.OutOrStdout(), o, nodes, controlPlanes)
			}
			r, err := sandbox.Up(ctx, o)
			if err != nil {
				return err
			}
			printUp(cmd.OutOrStdout(), r)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Name, "name", "", "sandbox, network namespace and node name (default sy-sbx-<random>)")
	f.StringVar(&o.DataDir, "data-dir", "", "daemon data dir (default /tmp/switchyard-sandbox-NAME; removed by down only if up created it)")
	f.StringVar(&o.Binary, "binary", "", "switchyard binary to run (default: this one)")
	f.DurationVar(&o.ReadyTimeout, "timeout", sandbox.DefaultReadyTimeout, "how long to wait for the API")
	f.IntVar(&nodes, "nodes", 1, "number of nodes: more than 1 builds a cluster of sandbox nodes NAME-n1… on an underlay bridge ("+sandbox.UnderlayPrefix.String()+") in namespace NAME-ul")
	f.IntVar(&controlPlanes, "control-planes", 1, "how many of the --nodes run a control plane (the others join as workers)")
	f.BoolVar(&o.Uplink, "uplink", false, "give the node an uplink "+sandbox.UplinkNodeAddr.String()+" to an outside namespace NAME-out ("+sandbox.UplinkOutsideAddr.Addr().String()+") for node-port clients; sandbox exec --outside runs there")
	return cmd
}

// upCluster builds a sandbox cluster (sandbox.UpCluster).
func upCluster(ctx context.Context, w io.Writer, o sandbox.Options, nodes, controlPlanes int) error {
	if o.Uplink {
		return errors.New("--uplink is for a single sandbox node, not a cluster")
	}
	if o.Name == "" {
		o.Name = "sy-c-" + sandbox.UniqueSuffix()
	}
	start := time.Now()
	c, err := sandbox.UpCluster(ctx, sandbox.ClusterOptions{
		Name: o.Name, Nodes: nodes, ControlPlanes: controlPlanes, DataDir: o.DataDir,
		Binary: o.Binary, ExtraArgs: o.ExtraArgs, RegistryDir: o.RegistryDir, ReadyTimeout: o.ReadyTimeout,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "sandbox cluster %s is up in %v: %d nodes, %d control planes, underlay %s in namespace %s\n",
		c.Name, time.Since(start).Round(100*time.Millisecond), nodes, controlPlanes, sandbox.UnderlayPrefix, c.Underlay)
	for i, name := range c.Nodes {
		role := "control plane"
		if i >= controlPlanes {
			role = "worker"
		}
		fmt.Fprintf(w, "  %s/n%d: node %s, %s, %s on %s\n", c.Name, i+1, name, role, sandbox.UnderlayAddr(i+1).Addr(), sandbox.UnderlayIf)
	}
	fmt.Fprintf(w, "Run commands on a node (KUBECONFIG is set):\n  switchyard sandbox exec %s/n1 -- kubectl get nodes -o wide\n", c.Name)
	fmt.Fprintf(w, "Remove it with: switchyard sandbox down %s\n", c.Name)
	return nil
}

func printUp(w io.Writer, r *sandbox.Record) {
	fmt.Fprintf(w, "sandbox %s is up: daemon pid %d in network namespace %s\n", r.Name, r.PID, r.Name)
	fmt.Fprintf(w, "  data dir:   %s\n  log:        %s\n  kubeconfig: %s\n", r.DataDir, r.LogFile(), r.Kubeconfig())
	fmt.Fprintf(w, "The API listens on %s inside the sandbox, so run clients there:\n", sandbox.DefaultAPIAddr)
	fmt.Fprintf(w, "  switchyard sandbox exec %s -- kubectl --kubeconfig %s get pods\n", r.Name, r.Kubeconfig())
	fmt.Fprintf(w, "  switchyard sandbox exec %s -- switchyard get pods    (exec sets KUBECONFIG)\n", r.Name)
	if r.OutsideNetNS != "" {
		fmt.Fprintf(w, "Uplink: the node is %s on %s; an outside client (%s) lives in namespace %s:\n", sandbox.UplinkNodeAddr.Addr(), sandbox.UplinkIf, sandbox.UplinkOutsideAddr.Addr(), r.OutsideNetNS)
		fmt.Fprintf(w, "  switchyard sandbox exec --outside %s -- curl http://%s:NODEPORT/\n", r.Name, sandbox.UplinkNodeAddr.Addr())
	}
	fmt.Fprintf(w, "Remove it with: switchyard sandbox down %s\n", r.Name)
}

func newSandboxDownCmd(registry *string) *cobra.Command {
	o := sandbox.DownOptions{}
	cmd := &cobra.Command{
		Use:   "down NAME...",
		Short: "Stop a sandbox's daemon (or every node of a sandbox cluster) and remove everything the sandbox created",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, names []string) error {
			if err := needRoot(); err != nil {
				return err
			}
			o.RegistryDir = *registry
			var errs []error
			for _, name := range names {
				err := sandbox.DownCluster(cmd.Context(), name, o)
				if errors.Is(err, sandbox.ErrNotFound) {
					err = sandbox.Down(cmd.Context(), sandbox.ResolveName(name), o)
				}
				switch {
				case errors.Is(err, sandbox.ErrNotFound):
					fmt.Fprintf(cmd.OutOrStdout(), "sandbox %s: not found, nothing to remove\n", name)
				case err != nil:
					errs = append(errs, err)
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "sandbox %s removed\n", name)
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&o.KeepData, "keep-data", false, "keep the data dir (state, certificates, daemon.log)")
	cmd.Flags().DurationVar(&o.StopTimeout, "timeout", sandbox.DefaultStopTimeout, "grace period between SIGTERM and SIGKILL")
	return cmd
}

func newSandboxExecCmd(registry *string) *cobra.Command {
	var outside bool
	cmd := &cobra.Command{
		Use:   "exec [--outside] NAME|CLUSTER/nI -- COMMAND [ARG...]",
		Short: "Run a command inside a sandbox's network namespace, with KUBECONFIG set",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := needRoot(); err != nil {
				return err
			}
			argv := args[1:]
			if argv[0] == "--" { // kept because flags stop at NAME
				argv = argv[1:]
			}
			if len(argv) == 0 {
				return errors.New("no command given: sandbox exec NAME -- COMMAND [ARG...]")
			}
			code, err := runSandboxExec(cmd, *registry, args[0], argv, outside)
			if err != nil {
				return err
			}
			if code != 0 {
				os.Exit(code)
			}
			return nil
		},
	}
	// Everything after NAME belongs to the command, dashes included.
	cmd.Flags().SetInterspersed(false)
	cmd.Flags().BoolVar(&outside, "outside", false, "run in the uplink's outside namespace (sandbox up --uplink), not the node's")
	return cmd
}

// runSandboxExec runs argv with the terminal attached. SIGTERM and SIGHUP
// are passed on; SIGINT and SIGQUIT come from the terminal, which sends them
// to the command as well, so they are only kept from killing us first.
func runSandboxExec(cmd *cobra.Command, registry, name string, argv []string, outside bool) (int, error) {
	fwd := make(chan os.Signal, 4)
	tty := make(chan os.Signal, 1)
	signal.Notify(fwd, syscall.SIGTERM, syscall.SIGHUP)
	signal.Notify(tty, syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Stop(fwd)
	defer signal.Stop(tty)
	return sandbox.Exec(cmd.Context(), sandbox.ResolveName(name), argv, sandbox.ExecOptions{
		RegistryDir: registry,
		Stdin:       cmd.InOrStdin(),
		Stdout:      cmd.OutOrStdout(),
		Stderr:      cmd.ErrOrStderr(),
		Signals:     fwd,
		Outside:     outside,
	})
}

func newSandboxListCmd(registry *string) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the sandboxes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list, err := sandbox.List(*registry)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tPID\tALIVE\tNETNS\tAGE\tDATA DIR")
			for _, s := range list {
				fmt.Fprintf(w, "%s\t%d\t%v\t%v\t%s\t%s\n", s.Name, s.PID, s.Alive, s.NetNSExists,
					time.Since(s.Created).Round(time.Second), s.DataDir)
			}
			return w.Flush()
		},
	}
}

func needRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("sandbox needs root (it creates network namespaces and cgroups); run it with sudo")
	}
	return nil
}
