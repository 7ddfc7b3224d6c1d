package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/switchyard-net/switchyard/controlplane/join"
	"github.com/switchyard-net/switchyard/controlplane/pki"
	"github.com/switchyard-net/switchyard/controlplane/store"
)

// JoinTokenFile is the join token's file in a data dir.
const JoinTokenFile = "join-token"

// apiServersPrefix holds one key per control plane: its API URL.
const apiServersPrefix = "/switchyard/cluster/apiservers/"

// joinState is what a control plane serves for joining nodes.
type joinState struct {
	server *join.Server
}

// HasEtcdMember reports whether dataDir holds an embedded etcd member: a
// restarted control plane then starts from it and needs no join.
func HasEtcdMember(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "etcd", "member"))
	return err == nil
}

// joinCluster joins the cluster named by cfg.Join unless the data dir
// already holds a member, and returns the etcd initial cluster to start
// with ("" when not joining). It writes no file until a control plane has
// accepted the token; then only the shared certificates.
func (cp *ControlPlane) joinCluster(ctx context.Context) (string, error) {
	j := cp.cfg.Join
	if j == nil || HasEtcdMember(cp.cfg.DataDir) {
		return "", nil
	}
	pkiDir := filepath.Join(cp.cfg.DataDir, "pki")
	if have, err := os.ReadFile(filepath.Join(pkiDir, pki.CACertFile)); err == nil {
		if h, err := pki.CAHashPEM(have); err != nil || h != j.Token.CAHash {
			return "", fmt.Errorf("join: %s already holds the CA of another cluster; use an empty --data-dir", pkiDir)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("join: %w", err)
	}
	resp, err := join.Join(ctx, j.URLs, j.Token, join.Request{
		NodeName: cp.cfg.NodeName, NodeIP: cp.cfg.NodeIP.String(), ControlPlane: true,
	})
	if err != nil {
		return "", err
	}
	if resp.Shared == nil || resp.InitialCluster == "" {
		return "", errors.New("join: the control plane sent no credentials or etcd members")
	}
	if err := os.MkdirAll(cp.cfg.DataDir, 0o700); err != nil {
		return "", fmt.Errorf("create data dir: %w", err)
	}
	if err := pki.Install(pkiDir, *resp.Shared); err != nil {
		return "", err
	}
	cp.log.Info("joined cluster", "via", j.URLs, "etcd", resp.InitialCluster)
	return resp.InitialCluster, nil
}

// setupJoin makes sure the cluster has a join token, writes it to
// <data-dir>/join-token, registers this control plane's API URL and
// prepares the join endpoints.
func (cp *ControlPlane) setupJoin(ctx context.Context) error {
	tokens := join.Tokens{Store: cp.store}
	st, err := tokens.Ensure(ctx, cp.bundle.CACertPEM, cp.cfg.JoinTokenTTL)
	if err != nil {
		return err
	}
	path := filepath.Join(cp.cfg.DataDir, JoinTokenFile)
	if have, err := os.ReadFile(path); err != nil || strings.TrimSpace(string(have)) != st.Token {
		if err := pki.WriteFile(path, []byte(st.Token+"\n"), 0o600); err != nil {
			return fmt.Errorf("join token: %w", err)
		}
	}
	if err := cp.registerAPIServer(ctx); err != nil {
		return err
	}
	cp.join = &joinState{server: &join.Server{
		Bundle:    cp.bundle,
		Token:     tokens.Get,
		AddMember: cp.addMember,
		Servers:   cp.apiServers,
		Log:       cp.log.With("component", "join"),
	}}
	return nil
}

func (cp *ControlPlane) addMember(ctx context.Context, name, peerURL string) (string, error) {
	if cp.member == nil {
		return "", errors.New("this control plane's etcd takes no peers: start it with --node-ip to let control planes join")
	}
	return cp.store.AddMember(ctx, name, peerURL)
}

// advertiseURL is the API URL other nodes use: the API address, with the
// node's address in place of an unspecified one.
func (cp *ControlPlane) advertiseURL() string {
	addr := cp.listener.Addr().(*net.TCPAddr)
	if addr.IP.IsUnspecified() && cp.cfg.NodeIP.IsValid() {
		return "https://" + net.JoinHostPort(cp.cfg.NodeIP.String(), fmt.Sprint(addr.Port))
	}
	return cp.ServerURL()
}

func (cp *ControlPlane) registerAPIServer(ctx context.Context) error {
	key := apiServersPrefix + cp.cfg.NodeName
	url := []byte(cp.advertiseURL())
	_, err := cp.store.GuaranteedUpdate(ctx, key, func(store.KV) ([]byte, error) { return url, nil })
	if err != nil {
		return fmt.Errorf("register API server: %w", err)
	}
	return nil
}

// apiServers lists the registered control planes' API URLs, sorted.
func (cp *ControlPlane) apiServers(ctx context.Context) ([]string, error) {
	kvs, _, err := cp.store.List(ctx, apiServersPrefix, 0)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, kv := range kvs {
		out = append(out, string(kv.Value))
	}
	slices.Sort(out)
	return out, nil
}

// serve serves the API and, beside it, the join endpoints.
func (cp *ControlPlane) serve(ctx context.Context) error {
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cp.join != nil && join.Handles(r.URL.Path) {
			cp.join.server.ServeHTTP(w, r)
			return
		}
		cp.api.ServeHTTP(w, r)
	})
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         cp.bundle.ServerTLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(cp.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	// ServeTLS (not tls.NewListener) so HTTP/2 is negotiated by ALPN.
	go func() { errc <- srv.ServeTLS(cp.listener, "", "") }()
	select {
	case err := <-errc:
		cp.api.Close()
		return fmt.Errorf("serve api: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		srv.Close()
	}
	<-errc
	cp.api.Close()
	return nil
}

// removeMembersOfDeletedNodes removes the etcd member and the API
// registration of every deleted Node (kubectl delete node), other than
// this control plane's own, until ctx ends. Every control plane does it;
// the first one wins and the others find nothing to remove.
func (cp *ControlPlane) removeMembersOfDeletedNodes(ctx context.Context, client kubernetes.Interface) {
	if cp.member == nil {
		return
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0)
	inf := f.Core().V1().Nodes().Informer()
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		n, ok := obj.(*corev1.Node)
		if !ok || n.Name == cp.cfg.NodeName {
			return
		}
		cp.forgetNode(ctx, n.Name)
	}})
	f.Start(ctx.Done())
	<-ctx.Done()
	f.Shutdown()
}

func (cp *ControlPlane) forgetNode(ctx context.Context, name string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	removed, err := cp.store.RemoveMember(ctx, name)
	if err != nil {
		cp.log.Warn("remove etcd member of deleted node", "node", name, "err", err)
		return
	}
	if removed {
		cp.log.Info("removed etcd member of deleted node", "node", name)
	}
	if _, err := cp.store.Delete(ctx, apiServersPrefix+name, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		cp.log.Warn("unregister API server of deleted node", "node", name, "err", err)
	}
}
