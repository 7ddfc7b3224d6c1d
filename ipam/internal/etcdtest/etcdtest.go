// Package etcdtest starts a throwaway single-member etcd for the ipam tests
// and benchmarks.
//
// Each server lives in its own temporary directory and listens on
// 127.0.0.1 port 0 (client and peer), so parallel test processes never
// collide. It runs without fsync (the data is thrown away) and logs to a
// file in its directory, which keeps test output quiet; the log path is
// reported when a test fails.
package etcdtest

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"
	"go.etcd.io/etcd/server/v3/embed"
)

// Server is a running embedded etcd.
type Server struct {
	etcd    *embed.Etcd
	dir     string
	logPath string
	prefix  string // of every key of every client
}

// Start starts an etcd in a fresh directory and stops it in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.etcd.Close()
		if t.Failed() {
			t.Logf("etcd log: %s", s.logPath)
		}
	})
	return s
}

func start(dir string) (*Server, error) {
	s := &Server{dir: dir, logPath: filepath.Join(dir, "etcd.log")}
	cfg := embed.NewConfig()
	cfg.Name = "etcdtest"
	cfg.Dir = filepath.Join(dir, "data")
	local := url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	cfg.ListenClientUrls = []url.URL{local}
	cfg.AdvertiseClientUrls = []url.URL{local}
	cfg.ListenPeerUrls = []url.URL{local}
	cfg.AdvertisePeerUrls = []url.URL{local}
	cfg.InitialCluster = cfg.Name + "=" + local.String()
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{s.logPath}
	cfg.UnsafeNoFsync = true
	// Benchmarks pre-fill ranges with large batched transactions.
	cfg.MaxTxnOps = 20000
	cfg.MaxRequestBytes = 8 << 20

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	s.etcd = e
	select {
	case <-e.Server.ReadyNotify():
		return s, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd failed: %w", err)
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd not ready after 30s; log: %s", s.logPath)
	}
}

var shared struct {
	sync.Mutex
	srv  *Server
	dir  string
	next int
}

// Shared returns a view of one server shared by the whole test binary,
// confined to a key prefix of its own: its clients see only their own
// keys, and tests skip the cost of starting a server each. A package using
// it calls StopShared from TestMain.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.Lock()
	defer shared.Unlock()
	if shared.srv == nil {
		dir, err := os.MkdirTemp("", "etcdtest")
		if err == nil {
			shared.srv, err = start(dir)
		}
		if err != nil {
			t.Fatal(err)
		}
		shared.dir = dir
	}
	shared.next++
	view := *shared.srv
	view.prefix = fmt.Sprintf("/test%d", shared.next)
	return &view
}

// StopShared stops the shared server, if one was started, and removes its
// directory.
func StopShared() {
	shared.Lock()
	defer shared.Unlock()
	if shared.srv != nil {
		shared.srv.etcd.Close()
		os.RemoveAll(shared.dir)
		shared.srv = nil
	}
}

// Endpoint returns the client URL of the server.
func (s *Server) Endpoint() string {
	return "http://" + s.etcd.Clients[0].Addr().String()
}

// Client returns a new client of the server, closed in t.Cleanup. When
// prefix is not empty every key the client reads or writes is put under it
// (after the prefix of a Shared view), so several tests can share one
// server without seeing each other.
func (s *Server) Client(t testing.TB, prefix string) *clientv3.Client {
	t.Helper()
	prefix = s.prefix + prefix
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{s.Endpoint()},
		DialTimeout: 10 * time.Second,
		// The server's logger: errors only, into its log file.
		Logger: s.etcd.GetLogger().Named("etcd-client"),
	})
	if err != nil {
		t.Fatalf("etcd client: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	if prefix != "" {
		cli.KV = namespace.NewKV(cli.KV, prefix)
		cli.Watcher = namespace.NewWatcher(cli.Watcher, prefix)
		cli.Lease = namespace.NewLease(cli.Lease, prefix)
	}
	return cli
}

// New returns a client of a fresh view of the Shared server.
func New(t testing.TB) *clientv3.Client {
	t.Helper()
	return Shared(t).Client(t, "")
}
