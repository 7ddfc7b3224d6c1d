package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	readyInterval     = 250 * time.Millisecond
	readyProbeTimeout = 5 * time.Second
	logTailLines      = 30
)

// waitReady polls the Ready probe until it passes, the daemon exits, the
// timeout passes or ctx is cancelled.
func waitReady(ctx context.Context, o Options, n *NS, r *Record, exited <-chan error) error {
	ready := o.Ready
	if ready == nil {
		ready = APIReady
	}
	timeout := o.ReadyTimeout
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(readyInterval)
	defer tick.Stop()
	for {
		last := probeOnce(wctx, ready, n, r)
		if last == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("daemon exited before it was ready (%v)%s", err, logTail(r))
		case <-wctx.Done():
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted while waiting for the daemon: %w", ctx.Err())
			}
			return fmt.Errorf("daemon not ready after %v: %v%s", timeout, last, logTail(r))
		case <-tick.C:
		}
	}
}

func probeOnce(ctx context.Context, ready func(context.Context, *NS, *Record) error, n *NS, r *Record) error {
	ctx, cancel := context.WithTimeout(ctx, readyProbeTimeout)
	defer cancel()
	return ready(ctx, n, r)
}

// APIReady is the default readiness probe: with the daemon's admin
// kubeconfig, from inside the namespace, GET /readyz (or /healthz where
// /readyz is missing) answers 200.
func APIReady(ctx context.Context, n *NS, r *Record) error {
	if _, err := os.Stat(r.Kubeconfig()); err != nil {
		return fmt.Errorf("no kubeconfig yet: %w", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", r.Kubeconfig())
	if err != nil {
		return err
	}
	// A transport of our own (not client-go's shared cache) that dials
	// inside the namespace and is gone after this probe.
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return err
	}
	tr := &http.Transport{DialContext: n.DialContext, TLSClientConfig: tlsCfg}
	defer tr.CloseIdleConnections()
	rt, err := rest.HTTPWrappersForConfig(cfg, tr)
	if err != nil {
		return err
	}
	hc := &http.Client{Transport: rt}
	host := strings.TrimSuffix(cfg.Host, "/")
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	for _, path := range []string{"/readyz", "/healthz"} {
		code, err := get(ctx, hc, host+path)
		if err != nil || code == http.StatusOK {
			return err
		}
		if code != http.StatusNotFound {
			return fmt.Errorf("GET %s: status %d", path, code)
		}
	}
	return errors.New("GET /readyz and /healthz: 404")
}

func get(ctx context.Context, hc *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, nil
}

// logTail returns the last lines of the daemon's log, formatted to end an
// error message, or "" when the log is empty or missing.
func logTail(r *Record) string {
	f, err := os.Open(r.LogFile())
	if err != nil {
		return ""
	}
	defer f.Close()
	const max = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	out := bytes.Join(lines, []byte("\n"))
	if len(bytes.TrimSpace(out)) == 0 {
		return ""
	}
	return fmt.Sprintf("\nlast lines of %s:\n%s", r.LogFile(), out)
}
