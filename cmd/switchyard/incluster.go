package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// newInClusterCmd is a client-go program for inside a pod: it connects
// the way every in-cluster client does (rest.InClusterConfig: the
// KUBERNETES_SERVICE_HOST/PORT variables, the mounted service-account
// token and ca.crt) and lists the pods of its namespace. The tests run it
// in pods to prove a pod's identity reaches the API.
func newInClusterCmd() *cobra.Command {
	var namespace string
	cmd := &cobra.Command{
		Use:    "incluster-list-pods",
		Short:  "List pods with the in-cluster configuration of the pod this runs in",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := rest.InClusterConfig()
			if err != nil {
				return fmt.Errorf("in-cluster config: %w", err)
			}
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			if namespace == "" {
				b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
				if err != nil {
					return err
				}
				namespace = strings.TrimSpace(string(b))
			}
			pods, err := client.CoreV1().Pods(namespace).List(cmd.Context(), metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("list pods: %w", err)
			}
			for _, p := range pods.Items {
				fmt.Fprintln(cmd.OutOrStdout(), p.Name)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace (default: the pod's own)")
	return cmd
}
