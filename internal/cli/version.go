package cli

import (
	"context"
	"fmt"

	"k8s.io/client-go/rest"
)

// Version prints the client's version and, when cfg is not nil, the
// server's (GET /version), like `kubectl version`. An unreachable server is
// an error, after the client version is printed.
func Version(ctx context.Context, s IOStreams, clientVersion string, cfg *rest.Config) error {
	fmt.Fprintf(s.Out, "Client Version: %s\n", clientVersion)
	if cfg == nil {
		return nil
	}
	c, err := newClients(cfg, s.ErrOut)
	if err != nil {
		return err
	}
	info, err := c.discovery.ServerVersionWithContext(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "Server Version: %s\n", info.GitVersion)
	return nil
}
