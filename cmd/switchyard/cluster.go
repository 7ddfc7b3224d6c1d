package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/switchyard-net/switchyard/controlplane"
	"github.com/switchyard-net/switchyard/controlplane/join"
	"github.com/switchyard-net/switchyard/controlplane/pki"
)

// Files of a cluster node in its data dir.
const (
	// nodeKubeconfigFile is a worker's kubeconfig (node client certificate).
	nodeKubeconfigFile = "node.kubeconfig"
	// clusterStateFile remembers the node's address and the control
	// planes, so a restarted node needs neither --node-ip nor --join.
	clusterStateFile = "cluster.json"
)

// clusterState is clusterStateFile's content.
type clusterState struct {
	NodeIP string `json:"nodeIP,omitempty"`
	// Servers are the control planes' API URLs (a worker fails over
	// between them).
	Servers []string `json:"servers,omitempty"`
}

func loadClusterState(dataDir string) (clusterState, bool, error) {
	var st clusterState
	data, err := os.ReadFile(filepath.Join(dataDir, clusterStateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("cluster state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, false, fmt.Errorf("cluster state %s: %w", clusterStateFile, err)
	}
	return st, true, nil
}

func saveClusterState(dataDir string, st clusterState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return pki.WriteFile(filepath.Join(dataDir, clusterStateFile), append(data, '\n'), 0o600)
}

// nodeIPs resolves --node-ip: the flag, else the address remembered in
// the data dir, else the first global IPv4 address of the interface
// holding the default route. explicit is true for the first two: the
// node then takes part in a cluster (its etcd listens for peers).
func resolveNodeIP(f *daemonFlags) (ip netip.Addr, explicit bool, err error) {
	if f.nodeIP != "" {
		ip, err := netip.ParseAddr(f.nodeIP)
		if err != nil || ip.IsUnspecified() {
			return netip.Addr{}, false, fmt.Errorf("--node-ip %q: want a unicast IP address", f.nodeIP)
		}
		return ip, true, nil
	}
	st, ok, err := loadClusterState(f.dataDir)
	if err != nil {
		return netip.Addr{}, false, err
	}
	if ok && st.NodeIP != "" {
		ip, err := netip.ParseAddr(st.NodeIP)
		if err != nil {
			return netip.Addr{}, false, fmt.Errorf("cluster state: node IP: %w", err)
		}
		return ip, true, nil
	}
	ip, _ = defaultRouteIPv4()
	return ip, false, nil
}

// defaultRouteIPv4 is the first global IPv4 address of the interface that
// holds the IPv4 default route (from /proc/net/route).
func defaultRouteIPv4() (netip.Addr, bool) {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return netip.Addr{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[1] != "00000000" || fields[7] != "00000000" {
			continue // not a default route (destination and mask 0)
		}
		ifc, err := net.InterfaceByName(fields[0])
		if err != nil {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() && p.Addr().IsGlobalUnicast() {
				return p.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// readJoinToken reads --join-token-file.
func readJoinToken(path string) (pki.Token, error) {
	if path == "" {
		return pki.Token{}, errors.New("--join needs --join-token-file (the first control plane's <data-dir>/join-token)")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return pki.Token{}, fmt.Errorf("--join-token-file: %w", err)
	}
	tok, err := pki.ParseToken(string(data))
	if err != nil {
		return pki.Token{}, fmt.Errorf("--join-token-file %s: %w", path, err)
	}
	return tok, nil
}

// controlPlaneJoin is the control plane's join configuration: nil without
// --join or when the data dir already holds an etcd member (a restart).
func controlPlaneJoin(f *daemonFlags) (*controlplane.JoinConfig, error) {
	if len(f.join) == 0 || controlplane.HasEtcdMember(f.dataDir) {
		return nil, nil
	}
	tok, err := readJoinToken(f.joinTokenFile)
	if err != nil {
		return nil, err
	}
	return &controlplane.JoinConfig{URLs: f.join, Token: tok}, nil
}

// workerKubeconfig returns the worker's kubeconfig and the control plane
// URLs to fail over between: node.kubeconfig in the data dir, made by
// joining with the token when it is not there yet.
func workerKubeconfig(ctx context.Context, f *daemonFlags, nodeIP netip.Addr) (string, []string, error) {
	path := filepath.Join(f.dataDir, nodeKubeconfigFile)
	st, _, err := loadClusterState(f.dataDir)
	if err != nil {
		return "", nil, err
	}
	if _, err := os.Stat(path); err == nil {
		return path, mergeServers(f.join, st.Servers), nil
	}
	tok, err := readJoinToken(f.joinTokenFile)
	if err != nil {
		return "", nil, err
	}
	csr, key, err := pki.NewCSR("system:node:" + f.nodeName)
	if err != nil {
		return "", nil, err
	}
	servingCSR, servingKey, err := pki.NewCSR("system:node:" + f.nodeName)
	if err != nil {
		return "", nil, err
	}
	req := join.Request{NodeName: f.nodeName, CSR: csr, ServingCSR: servingCSR}
	if nodeIP.IsValid() {
		req.NodeIP = nodeIP.String()
	}
	resp, err := join.Join(ctx, f.join, tok, req)
	if err != nil {
		return "", nil, err
	}
	servers := mergeServers(f.join, resp.Servers)
	if err := os.MkdirAll(f.dataDir, 0o700); err != nil {
		return "", nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := writeNodeServerCert(f.dataDir, resp.ServingCert, servingKey, resp.CACert); err != nil {
		return "", nil, err
	}
	b := &pki.Bundle{CACertPEM: resp.CACert}
	if err := b.WriteKubeconfig(path, servers[0], "system:node:"+f.nodeName, resp.ClientCert, key); err != nil {
		return "", nil, err
	}
	st.Servers = servers
	if nodeIP.IsValid() {
		st.NodeIP = nodeIP.String()
	}
	if err := saveClusterState(f.dataDir, st); err != nil {
		return "", nil, err
	}
	return path, servers, nil
}

// mergeServers is a followed by the URLs of b it lacks.
func mergeServers(a, b []string) []string {
	out := slices.Clone(a)
	for _, u := range b {
		if !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// failoverConfig makes rc try the control planes at servers in turn: it
// dials the last one that answered first, then the others, and verifies
// every one by the name all serving certificates carry.
func failoverConfig(rc *rest.Config, servers []string) error {
	var hosts []string
	for _, s := range servers {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return fmt.Errorf("control plane URL %q: want https://HOST:PORT", s)
		}
		hosts = append(hosts, u.Host)
	}
	if len(hosts) < 2 {
		return nil
	}
	d := &failoverDialer{hosts: hosts}
	rc.TLSClientConfig.ServerName = pki.APIServerName
	rc.Dial = d.DialContext
	return nil
}

// failoverDialer dials the first control plane that accepts a connection.
type failoverDialer struct {
	mu    sync.Mutex
	hosts []string
	good  int // index of the last host that accepted
}

func (d *failoverDialer) DialContext(ctx context.Context, network, _ string) (net.Conn, error) {
	d.mu.Lock()
	start, n := d.good, len(d.hosts)
	d.mu.Unlock()
	var errs []error
	for i := range n {
		k := (start + i) % n
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		var nd net.Dialer
		c, err := nd.DialContext(dctx, network, d.hosts[k])
		cancel()
		if err == nil {
			d.mu.Lock()
			d.good = k
			d.mu.Unlock()
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("no control plane reachable: %w", errors.Join(errs...))
}

// nodeRestConfig loads a kubeconfig for the node agent.
func nodeRestConfig(server, kubeconfig string, servers []string) (*rest.Config, error) {
	rc, err := clientcmd.BuildConfigFromFlags(server, kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("node agent client: %w", err)
	}
	if err := failoverConfig(rc, servers); err != nil {
		return nil, err
	}
	return rc, nil
}
