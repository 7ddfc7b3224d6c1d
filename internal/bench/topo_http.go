package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// probeHostname makes one GET /hostname to a netexec server at target from
// ns, on a new connection, and fails unless it answers 200 OK.
func probeHostname(ctx context.Context, ns *sandbox.NS, target netip.AddrPort) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: ns.DialContext, DisableKeepAlives: true}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+target.String()+"/hostname", nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return err
}

// waitHostname waits up to 10s until target answers GET /hostname from ns;
// from names ns in the error.
func waitHostname(ctx context.Context, ns *sandbox.NS, from string, target netip.AddrPort) error {
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if last = probeHostname(ctx, ns, target); last == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s does not answer from %s: %w", target, from, errors.Join(last, ctx.Err()))
}
