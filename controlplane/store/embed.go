package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	memberName = "switchyard"
	// peerURL is advertised to satisfy etcd's bootstrap checks, but nothing
	// listens on it: a single embedded member never talks to peers.
	peerURL = "http://127.0.0.1:2380"
	// maxSocketPath keeps the client socket under the 108-byte sun_path limit.
	maxSocketPath = 100
	quotaBytes    = 8 << 30
	snapshotCount = 10000
	readyTimeout  = time.Minute
	tickMs        = 50
	electionMs    = 250
)

// embedded is a running single-member etcd serving clients on a unix socket
// only, so parallel processes never collide on ports and no other local user
// can reach it (the socket lives in a 0700 directory).
type embedded struct {
	etcd     *embed.Etcd
	endpoint string // "unix:///…/etcd.sock" for clientv3
	tmpDir   string // private socket directory to remove on close, or ""
	logs     *slogCore
}

// startEmbedded starts etcd with its data in dir and waits until it serves.
// m nil: a lone member on a unix socket; otherwise a member of a cluster.
func startEmbedded(ctx context.Context, dir string, m *Member, log *slog.Logger) (*embedded, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd data dir: %w", err)
	}
	sock, tmpDir, err := socketPath(dir)
	if err != nil {
		return nil, err
	}
	em := &embedded{endpoint: "unix://" + sock, tmpDir: tmpDir, logs: newSlogCore(log, zapcore.ErrorLevel)}
	cfg := embedConfig(dir, sock, em.logs)
	if m != nil {
		m.apply(cfg)
	}
	em.etcd, err = embed.StartEtcd(cfg)
	if err != nil {
		em.removeTmp()
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	if err := waitReady(ctx, em.etcd); err != nil {
		em.close()
		return nil, err
	}
	return em, nil
}

// socketPath returns the client socket path: in dir when short enough,
// otherwise in a fresh private temporary directory.
func socketPath(dir string) (sock, tmpDir string, err error) {
	abs, err := filepath.Abs(filepath.Join(dir, "etcd.sock"))
	if err != nil {
		return "", "", fmt.Errorf("etcd socket path: %w", err)
	}
	if len(abs) <= maxSocketPath {
		return abs, "", nil
	}
	tmpDir, err = os.MkdirTemp("", "switchyard-etcd-")
	if err != nil {
		return "", "", fmt.Errorf("etcd socket dir: %w", err)
	}
	return filepath.Join(tmpDir, "etcd.sock"), tmpDir, nil
}

func embedConfig(dir, sock string, core zapcore.Core) *embed.Config {
	cfg := embed.NewConfig()
	cfg.Name = memberName
	cfg.Dir = dir
	client := url.URL{Scheme: "unix", Path: sock}
	peer, _ := url.Parse(peerURL)
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = nil
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.InitialCluster = memberName + "=" + peerURL
	cfg.InitialClusterToken = memberName
	cfg.EnableGRPCGateway = false
	cfg.ListenMetricsUrls = nil
	cfg.AutoCompactionRetention = "0" // the store compacts itself (compact.go)
	cfg.SnapshotCount = snapshotCount
	cfg.QuotaBackendBytes = quotaBytes
	// A lone member elects itself within one election timeout of starting:
	// 250ms keeps Open fast; 50ms ticks (etcd wants election >= 5 ticks) cost
	// no measurable idle CPU, unlike 10ms ticks (~1% of a core).
	cfg.TickMs, cfg.ElectionMs = tickMs, electionMs
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(core))
	return cfg
}

func waitReady(ctx context.Context, e *embed.Etcd) error {
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
		return nil
	case err := <-e.Err():
		if err == nil {
			err = errors.New("stopped")
		}
		return fmt.Errorf("etcd failed to start: %w", err)
	case <-timer.C:
		return fmt.Errorf("etcd not ready after %v", readyTimeout)
	case <-ctx.Done():
		return fmt.Errorf("wait for etcd: %w", ctx.Err())
	}
}

// close stops etcd and waits for its goroutines.
func (em *embedded) close() {
	em.logs.mute() // shutdown reports closed listeners as errors
	em.etcd.Close()
	em.removeTmp()
}

func (em *embedded) removeTmp() {
	if em.tmpDir != "" {
		os.RemoveAll(em.tmpDir)
	}
}
