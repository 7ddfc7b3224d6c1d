package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
)

// Ports of an embedded member on the node's address.
const (
	PeerPort   = 2380
	ClientPort = 2379
)

// Member configures the embedded etcd as a member of a cluster of control
// planes: it listens for peers on IP:2380 and for clients on IP:2379 (beside
// its unix socket), both over TLS with certificates of the cluster CA and
// client-certificate authentication, so only holders of a certificate from
// that CA (the other control planes) can talk to it.
type Member struct {
	// Name is the member's name: the node's name.
	Name string
	// IP is the node's address (--node-ip).
	IP net.IP
	// CertFile and KeyFile are the member's certificate (server and client
	// usage, IP in its SANs); CAFile is the cluster CA.
	CertFile, KeyFile, CAFile string
	// InitialCluster is "name=peerURL,…" of every member, this one
	// included, for a member that joins an existing cluster (the answer of
	// AddMember); empty for the first member of a new cluster. Ignored when
	// the data dir already holds a member: it restarts as what it was.
	InitialCluster string
}

// PeerURL is the member's peer URL.
func (m *Member) PeerURL() string { return memberURL(m.IP, PeerPort) }

// ClientURL is the member's TLS client URL.
func (m *Member) ClientURL() string { return memberURL(m.IP, ClientPort) }

func memberURL(ip net.IP, port int) string {
	return "https://" + net.JoinHostPort(ip.String(), fmt.Sprint(port))
}

// apply turns cfg (a lone member) into a cluster member.
func (m *Member) apply(cfg *embed.Config) {
	peer, _ := url.Parse(m.PeerURL())
	client, _ := url.Parse(m.ClientURL())
	tls := transport.TLSInfo{CertFile: m.CertFile, KeyFile: m.KeyFile, TrustedCAFile: m.CAFile, ClientCertAuth: true}
	cfg.Name = m.Name
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*peer}
	cfg.ListenClientUrls = append(cfg.ListenClientUrls, *client)
	cfg.AdvertiseClientUrls = []url.URL{*client}
	cfg.PeerTLSInfo, cfg.ClientTLSInfo = tls, tls
	cfg.InitialCluster = m.Name + "=" + m.PeerURL()
	cfg.ClusterState = embed.ClusterStateFlagNew
	if m.InitialCluster != "" {
		cfg.InitialCluster = m.InitialCluster
		cfg.ClusterState = embed.ClusterStateFlagExisting
	}
	// Members talk over a network and share 2 cores with everything else:
	// etcd's defaults (100ms ticks, 1s election) avoid needless elections.
	cfg.TickMs, cfg.ElectionMs = 100, 1000
}

// MemberInfo is one member of the etcd cluster.
type MemberInfo struct {
	ID       uint64
	Name     string // empty until an added member first starts
	PeerURLs []string
	Learner  bool
}

// Members lists the etcd cluster's members.
func (s *Store) Members(ctx context.Context) ([]MemberInfo, error) {
	resp, err := s.client.MemberList(ctx)
	if err != nil {
		return nil, mapErr("list etcd members", err)
	}
	out := make([]MemberInfo, 0, len(resp.Members))
	for _, m := range resp.Members {
		out = append(out, MemberInfo{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, Learner: m.IsLearner})
	}
	return out, nil
}

// ErrMemberConflict means a member to add clashes with a live member.
var ErrMemberConflict = errors.New("etcd member conflict")

// AddMember adds a member called name with peerURL to the etcd cluster
// (etcd's MemberAddAsLearner; the member promotes itself once it has
// caught up, see promoteSelf) and returns the initial cluster the new member must
// start with. A member with the same name or peer URL that is not this
// store's own (a node that joins again after losing its data dir) is
// removed first; this store's own member is never replaced. Only the
// embedded etcd of a cluster member can add members.
func (s *Store) AddMember(ctx context.Context, name, peerURL string) (initialCluster string, err error) {
	if s.embedded == nil {
		return "", errors.New("add etcd member: this control plane uses an external etcd")
	}
	own := uint64(s.embedded.etcd.Server.MemberID())
	members, err := s.Members(ctx)
	if err != nil {
		return "", err
	}
	for _, m := range members {
		if m.Name != name && !slices.Contains(m.PeerURLs, peerURL) {
			continue
		}
		if m.ID == own {
			return "", fmt.Errorf("%w: %s or %s is this control plane's own member", ErrMemberConflict, name, peerURL)
		}
		if _, err := s.client.MemberRemove(ctx, m.ID); err != nil {
			return "", mapErr(fmt.Sprintf("remove stale etcd member %s (%x)", m.Name, m.ID), err)
		}
	}
	var resp *clientv3.MemberAddResponse
	err = retryUnhealthy(ctx, func() (err error) {
		resp, err = s.client.MemberAddAsLearner(ctx, []string{peerURL})
		return err
	})
	if err != nil {
		return "", mapErr("add etcd member "+name, err)
	}
	var parts []string
	for _, m := range resp.Members {
		n := m.Name
		if m.ID == resp.Member.ID {
			n = name
		}
		if n == "" {
			continue // another member added but never started: it has no name yet
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, n+"="+u)
		}
	}
	return strings.Join(parts, ","), nil
}

// retryUnhealthy calls f until it returns anything but etcd's "unhealthy
// cluster", or ctx ends: etcd refuses a membership change until every
// member has been connected for its health interval (5 s), which is often
// not yet the case just after another member joined.
func retryUnhealthy(ctx context.Context, f func() error) error {
	for {
		err := f()
		if !errors.Is(err, rpctypes.ErrUnhealthy) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// RemoveMember removes the member called name (retrying while etcd calls
// the cluster unhealthy, see retryUnhealthy); removed is false when there
// is none.
func (s *Store) RemoveMember(ctx context.Context, name string) (removed bool, err error) {
	members, err := s.Members(ctx)
	if err != nil {
		return false, err
	}
	for _, m := range members {
		if m.Name == name {
			err := retryUnhealthy(ctx, func() error {
				_, err := s.client.MemberRemove(ctx, m.ID)
				return err
			})
			if err != nil {
				return false, mapErr("remove etcd member "+name, err)
			}
			return true, nil
		}
	}
	return false, nil
}

// ensurePeerURL makes the cluster advertise m's peer URL for this store's
// own member: a member started before with another address (a lone member
// that had none) is updated, as etcd keeps the peer URLs of a restarted
// member from its data and ignores the configured ones.
func (s *Store) ensurePeerURL(ctx context.Context, m *Member) error {
	own := uint64(s.embedded.etcd.Server.MemberID())
	members, err := s.Members(ctx)
	if err != nil {
		return err
	}
	for _, mi := range members {
		if mi.ID == own && !slices.Equal(mi.PeerURLs, []string{m.PeerURL()}) {
			if _, err := s.client.MemberUpdate(ctx, own, []string{m.PeerURL()}); err != nil {
				return mapErr("update etcd peer URL", err)
			}
		}
	}
	return nil
}

// requestTimeout bounds one unary etcd request without a deadline of its
// own, so an API request never hangs on an etcd that lost quorum.
const requestTimeout = 10 * time.Second

// failFast makes every unary etcd request fail at once with "no leader"
// when the local member has no leader (clientv3.WithRequireLeader), rather
// than wait for etcd's own timeout, and gives it a deadline if it has none.
func failFast(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx = clientv3.WithRequireLeader(ctx)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// promoteTimeout bounds the wait for a new member to catch up.
const promoteTimeout = 2 * time.Minute

// promoteSelf turns this store's embedded member from a learner (how
// AddMember adds it) into a voting member once it has caught up with the
// leader. Joining as a learner keeps the quorum of the existing members
// while the new one starts and copies the data: adding a voting member to
// a one-member cluster at once would leave it without quorum, refusing
// writes, until the new member is up (etcd's documented runtime
// reconfiguration advice). A learner serves no client requests, so this
// talks to the other members on their TLS client URLs.
func (s *Store) promoteSelf(ctx context.Context, m *Member) error {
	srv := s.embedded.etcd.Server
	if !srv.IsLearner() {
		return nil
	}
	own := srv.MemberID()
	var endpoints []string
	for _, mem := range srv.Cluster().Members() {
		if mem.ID != own {
			endpoints = append(endpoints, mem.ClientURLs...)
		}
	}
	tlsCfg, err := transport.TLSInfo{CertFile: m.CertFile, KeyFile: m.KeyFile, TrustedCAFile: m.CAFile}.ClientConfig()
	if err != nil {
		return fmt.Errorf("promote etcd member: %w", err)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, TLS: tlsCfg, DialTimeout: dialTimeout, Logger: zap.New(s.clientLogs)})
	if err != nil {
		return fmt.Errorf("promote etcd member: %w", err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, promoteTimeout)
	defer cancel()
	for {
		if !srv.IsLearner() { // the promotion reached this member
			return nil
		}
		if _, err = c.MemberPromote(ctx, uint64(own)); errors.Is(err, rpctypes.ErrMemberNotLearner) {
			err = nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("promote etcd member %s: %w", m.Name, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
