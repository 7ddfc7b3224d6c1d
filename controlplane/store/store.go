package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"google.golang.org/grpc"
)

const (
	defaultCompactInterval = 5 * time.Minute
	dialTimeout            = 5 * time.Second
	probeTimeout           = 15 * time.Second // Open's first request
)

// Config configures Open.
type Config struct {
	// DataDir holds the embedded etcd in DataDir/etcd when Endpoints is empty.
	DataDir string
	// Endpoints of an external etcd cluster; empty starts an embedded one.
	Endpoints []string
	// CompactInterval is the period of Run's compaction; 0 means 5m, a
	// negative value disables compaction. See compact.go for the retention.
	CompactInterval time.Duration
	// Member makes the embedded etcd a member of a multi-member cluster
	// (see Member); nil keeps it a lone member serving a unix socket only.
	Member *Member
	// Encryption encrypts values at rest (Secrets, with
	// --encryption-key-file); nil stores them as they are.
	Encryption *Encryption
	// Logger receives compaction failures and the embedded etcd's errors;
	// nil discards them.
	Logger *slog.Logger
}

// Store is the etcd-backed object store. All methods are safe for concurrent
// use.
type Store struct {
	client   *clientv3.Client
	embedded *embedded // nil for an external etcd
	cfg      Config
	log      *slog.Logger
	keep     int64      // least revisions compaction keeps: keepRevisions
	leases   leaseCache // the shared lease of WithTTL writes
	// clientLogs carries the etcd client's errors; muted by Close.
	clientLogs *slogCore

	closeOnce sync.Once
	mu        sync.Mutex
	done      chan struct{}  // closed by Close under mu; stops watch goroutines
	watchers  sync.WaitGroup // watch goroutines; Add only under mu while open
}

// errClosed is returned by Watch after Close.
var errClosed = errors.New("store closed")

// Open connects to etcd (starting the embedded one if cfg.Endpoints is empty)
// and returns once it answers requests; an etcd that does not answer within
// 15s (or before ctx ends) is an error.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.CompactInterval == 0 {
		cfg.CompactInterval = defaultCompactInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, log: cfg.Logger.With("component", "store"), keep: keepRevisions, done: make(chan struct{})}
	s.clientLogs = newSlogCore(s.log.With("source", "etcd-client"), zapcore.ErrorLevel)
	endpoints := cfg.Endpoints
	if len(endpoints) == 0 {
		if cfg.DataDir == "" {
			return nil, errors.New("store: DataDir is required for the embedded etcd")
		}
		em, err := startEmbedded(ctx, filepath.Join(cfg.DataDir, "etcd"), cfg.Member, s.log.With("source", "etcd-server"))
		if err != nil {
			return nil, err
		}
		s.embedded, endpoints = em, []string{em.endpoint}
		if cfg.Member != nil {
			if err := s.promoteSelf(ctx, cfg.Member); err != nil {
				s.Close()
				return nil, err
			}
		}
	}
	if err := s.connect(ctx, endpoints); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.Member != nil && s.embedded != nil {
		if err := s.ensurePeerURL(ctx, cfg.Member); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// connect creates the client and checks that etcd answers.
func (s *Store) connect(ctx context.Context, endpoints []string) error {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: dialTimeout,
		Logger:      zap.New(s.clientLogs),
		DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(failFast)},
	})
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	s.client = c
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	if _, err := s.CurrentRevision(ctx); err != nil {
		return fmt.Errorf("etcd not reachable at %v: %w", endpoints, err)
	}
	return nil
}

// Client returns the underlying etcd client (used by the ipam allocators).
// It is closed by Close.
func (s *Store) Client() *clientv3.Client { return s.client }

// Close stops every watch, closes the client and stops the embedded etcd.
// It is idempotent and waits for the goroutines the store started.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.done)
		s.mu.Unlock()
		s.watchers.Wait()
		s.clientLogs.mute()
		if s.client != nil {
			s.client.Close()
		}
		if s.embedded != nil {
			s.embedded.close()
		}
	})
	return nil
}

// addWatcher registers a watch goroutine unless the store is closed.
func (s *Store) addWatcher() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed() {
		return errClosed
	}
	s.watchers.Add(1)
	return nil
}

// CurrentRevision returns etcd's current revision.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, "/", clientv3.WithCountOnly())
	if err != nil {
		return 0, mapErr("current revision", err)
	}
	return resp.Header.Revision, nil
}
