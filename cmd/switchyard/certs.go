package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/switchyard-net/switchyard/controlplane"
	"github.com/switchyard-net/switchyard/controlplane/pki"
)

// newCertsCmd is `switchyard certs issue`: a kubeconfig for a new user,
// with a client certificate the cluster CA signs (CN = user, O = groups),
// run on a control plane (it needs the CA key in the data dir). What the
// user may do is up to RBAC: until a binding names the user or one of its
// groups, every request but discovery and the self-reviews gets 403.
func newCertsCmd() *cobra.Command {
	certs := &cobra.Command{Use: "certs", Short: "Manage client certificates of the cluster CA"}
	var (
		dataDir, user, out, server string
		groups                     []string
		validity                   time.Duration
	)
	issue := &cobra.Command{
		Use:   "issue --user NAME [--group G]... --out FILE",
		Short: "Write a kubeconfig with a client certificate for a user, signed by the cluster CA",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" || out == "" {
				return fmt.Errorf("--user and --out are required")
			}
			b, err := pki.LoadCA(filepath.Join(dataDir, "pki"))
			if err != nil {
				return err
			}
			if server == "" {
				if server, err = adminServer(dataDir); err != nil {
					return err
				}
			}
			cert, key, err := b.IssueClientCert(user, groups, validity)
			if err != nil {
				return err
			}
			if err := b.WriteKubeconfig(out, server, user, cert, key); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s for user %q (groups %v), server %s\n", out, user, groups, server)
			return nil
		},
	}
	fl := issue.Flags()
	fl.StringVar(&dataDir, "data-dir", "/var/lib/switchyard", "control plane data dir (holds the cluster CA)")
	fl.StringVar(&user, "user", "", "user name (the certificate's common name)")
	fl.StringArrayVar(&groups, "group", nil, "group (the certificate's organization); repeat for more")
	fl.StringVar(&out, "out", "", "kubeconfig file to write (mode 0600)")
	fl.StringVar(&server, "server", "", "API server URL (default: the one in the data dir's admin.kubeconfig)")
	fl.DurationVar(&validity, "validity", 365*24*time.Hour, "certificate validity (capped at the CA's)")
	certs.AddCommand(issue)
	return certs
}

// adminServer is the server URL of the data dir's admin kubeconfig.
func adminServer(dataDir string) (string, error) {
	cfg, err := clientcmd.LoadFromFile(controlplane.AdminKubeconfig(dataDir))
	if err != nil {
		return "", fmt.Errorf("read admin kubeconfig for the server URL (or give --server): %w", err)
	}
	if c := cfg.Clusters[pki.KubeconfigName]; c != nil && c.Server != "" {
		return c.Server, nil
	}
	for _, c := range cfg.Clusters {
		return c.Server, nil
	}
	return "", fmt.Errorf("admin kubeconfig names no server; give --server")
}
