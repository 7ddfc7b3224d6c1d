package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"k8s.io/client-go/tools/cache"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/dns"
	"github.com/switchyard-net/switchyard/dns/forward"
	"github.com/switchyard-net/switchyard/dns/index"
)

// hostResolvConf is where the default upstreams come from.
const hostResolvConf = "/etc/resolv.conf"

// dnsComponent is the node's cluster DNS server on --dns-ip:53.
type dnsComponent struct {
	env    *nodeEnv
	ip     netip.Addr
	ix     *index.Index
	synced []cache.InformerSynced
	srv    *dns.Server
}

// newDNSComponent builds the dns node component from env (see
// components.go).
func newDNSComponent(env *nodeEnv) (component, error) {
	f := env.flags
	ip, err := dnsIP(f.dnsIP, f.serviceCIDR)
	if err != nil {
		return nil, err
	}
	pods, err := index.ParsePodsMode(f.dnsPods)
	if err != nil {
		return nil, err
	}
	if f.dnsTTL < 0 || f.dnsTTL > 3600 {
		return nil, fmt.Errorf("--dns-ttl %d must be between 0 and 3600", f.dnsTTL)
	}
	var reverse []netip.Prefix
	for _, c := range []string{f.serviceCIDR, f.clusterCIDR} {
		if p, err := netip.ParsePrefix(c); err == nil {
			reverse = append(reverse, p.Masked())
		}
	}
	ix, err := index.New(index.Config{Zone: f.clusterDomain, TTL: uint32(f.dnsTTL), DNSIP: ip, Pods: pods, Reverse: reverse})
	if err != nil {
		return nil, fmt.Errorf("--cluster-domain: %w", err)
	}
	synced, err := ix.Register(env.factory)
	if err != nil {
		return nil, err
	}
	ups, err := dnsUpstreams(f.dnsUpstream, env)
	if err != nil {
		return nil, err
	}
	srv, err := dns.New(dns.Config{Addr: netip.AddrPortFrom(ip, 53), Index: ix, Upstreams: ups,
		LoopProbe: true, Registry: env.registry, Logger: env.log})
	if err != nil {
		return nil, err
	}
	return &dnsComponent{env: env, ip: ip, ix: ix, synced: synced, srv: srv}, nil
}

// dnsUpstreams parses --dns-upstream ("none": forward nothing, answer
// SERVFAIL), or reads the host's resolv.conf.
func dnsUpstreams(flag []string, env *nodeEnv) ([]netip.AddrPort, error) {
	if len(flag) == 1 && flag[0] == "none" {
		return nil, nil
	}
	if len(flag) == 0 {
		ups, err := forward.HostUpstreams(hostResolvConf)
		if err != nil {
			env.log.Warn("cluster DNS has no upstreams: names outside the cluster get SERVFAIL", "err", err)
		}
		return ups, nil
	}
	var ups []netip.AddrPort
	for _, s := range flag {
		u, err := forward.ParseUpstream(s)
		if err != nil {
			return nil, fmt.Errorf("--dns-upstream: %w", err)
		}
		ups = append(ups, u)
	}
	return ups, nil
}

// Run binds the DNS address in the node namespace, serves, and marks the
// index synced once the informers are: until then in-zone questions get
// SERVFAIL. The address stays on lo when the daemon stops (a restarted
// daemon binds it again; `switchyard sandbox down` removes the namespace).
func (c *dnsComponent) Run(ctx context.Context) error {
	if err := podnet.EnsureLocalAddr(ctx, podnet.DNSLabel, c.ip); err != nil {
		return fmt.Errorf("bind cluster DNS address: %w", err)
	}
	if err := c.listen(ctx); err != nil {
		return err
	}
	c.env.factory.Start(ctx.Done())
	go func() {
		start := time.Now()
		if cache.WaitForCacheSync(ctx.Done(), c.synced...) {
			c.ix.SetSynced()
			c.env.log.Info("cluster DNS index synced", "component", "dns", "names", c.ix.Len(), "took", time.Since(start).Round(time.Millisecond))
		}
	}()
	return c.srv.Serve(ctx)
}

// listen binds port 53, retrying for a few seconds: a daemon restarted at
// once may find its predecessor's sockets not yet closed.
func (c *dnsComponent) listen(ctx context.Context) error {
	var err error
	for range 50 {
		if err = c.srv.Listen(); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
	return err
}
