package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultKubeconfig is the admin kubeconfig the daemon writes into its
// default data dir on first start.
const DefaultKubeconfig = "/var/lib/switchyard/admin.kubeconfig"

// LoadConfig loads the client configuration from, in order of precedence,
// the --kubeconfig flag, $KUBECONFIG (a list of files, merged like kubectl
// does) and DefaultKubeconfig, using the current context.
func LoadConfig(kubeconfigFlag string) (*rest.Config, error) {
	return loadConfig(kubeconfigFlag, os.Getenv(clientcmd.RecommendedConfigPathEnvVar), DefaultKubeconfig)
}

func loadConfig(flag, env, defaultPath string) (*rest.Config, error) {
	rules, err := loadingRules(flag, env, defaultPath)
	if err != nil {
		return nil, err
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	// kubectl's defaults are 5 QPS with a burst of 10, which makes applying
	// a directory of manifests wait on the client side for no reason.
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// loadingRules picks the kubeconfig file(s): the flag, else $KUBECONFIG,
// else the default path, which must then exist.
func loadingRules(flag, env, defaultPath string) (*clientcmd.ClientConfigLoadingRules, error) {
	switch {
	case flag != "":
		return &clientcmd.ClientConfigLoadingRules{ExplicitPath: flag}, nil
	case env != "":
		files := filepath.SplitList(env)
		for _, f := range files {
			if _, err := os.Stat(f); err == nil {
				return &clientcmd.ClientConfigLoadingRules{Precedence: files}, nil
			}
		}
		return nil, fmt.Errorf("no kubeconfig: none of $KUBECONFIG (%s) exists", env)
	}
	if _, err := os.Stat(defaultPath); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no kubeconfig: %s does not exist (is the switchyard daemon running on this host?); use --kubeconfig or $KUBECONFIG", defaultPath)
	}
	return &clientcmd.ClientConfigLoadingRules{ExplicitPath: defaultPath}, nil
}
