package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// The kube-proxy iptables-mode ruleset, the baseline most clusters still
// run. The layout follows kubernetes pkg/proxy/iptables/proxier.go
// (v1.28+, with MinimizeIPTablesRestore): a linear KUBE-SERVICES chain with
// one rule per service port that jumps to a KUBE-SVC-* chain, which marks
// traffic from outside the cluster CIDR for masquerade and picks an
// endpoint with `statistic --mode random --probability 1/(n-i)` rules; each
// KUBE-SEP-* chain marks hairpin traffic and DNATs. Chain names hash the
// service port name like kube-proxy's (sha256, base32, 16 characters).
// Written here from the layout, not copied.

const (
	iptMasqMark = "0x4000"
	// iptLargeCluster is kube-proxy's largeClusterEndpointsThreshold:
	// above it, endpoint rules are written without comments to keep
	// iptables-restore fast.
	iptLargeCluster = 1000
)

// iptRuleset renders iptables-restore input for a list of services.
type iptRuleset struct {
	clusterCIDR netip.Prefix
}

func iptHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return base32.StdEncoding.EncodeToString(h[:])[:16]
}

func (s *Service) portName() string { return s.Namespace + "/" + s.Name + ":" + s.PortName }

func svcChain(s *Service) string { return "KUBE-SVC-" + iptHash(s.portName()+"tcp") }

func sepChain(s *Service, ep netip.AddrPort) string {
	return "KUBE-SEP-" + iptHash(s.portName()+"tcp"+ep.String())
}

// Full is the input of the first sync: every kube-proxy chain of the
// filter and nat tables, the jumps from the built-in chains, and every
// service. It is restored with --noflush, as kube-proxy does.
func (g iptRuleset) Full(svcs []Service) []byte {
	var b bytes.Buffer
	g.filter(&b, true)
	g.nat(&b, svcs, nil, nil, true)
	return b.Bytes()
}

// Partial is the input of a later sync in which only svcs[changed] differ
// (kube-proxy's partial sync): the top-level chains are rewritten whole,
// only the changed services' chains are rewritten, and stale endpoint
// chains are flushed and deleted.
func (g iptRuleset) Partial(svcs []Service, changed []int, stale []string) []byte {
	var b bytes.Buffer
	g.filter(&b, false)
	g.nat(&b, svcs, changed, stale, false)
	return b.Bytes()
}

func (g iptRuleset) filter(b *bytes.Buffer, jumps bool) {
	b.WriteString("*filter\n")
	for _, c := range []string{"KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-NODEPORTS", "KUBE-PROXY-FIREWALL"} {
		fmt.Fprintf(b, ":%s - [0:0]\n", c)
	}
	if jumps {
		b.WriteString(`-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
`)
	}
	b.WriteString(`-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ` + iptMasqMark + `/` + iptMasqMark + ` -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`)
}

func (g iptRuleset) nat(b *bytes.Buffer, svcs []Service, changed []int, stale []string, full bool) {
	b.WriteString("*nat\n")
	for _, c := range []string{"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"} {
		fmt.Fprintf(b, ":%s - [0:0]\n", c)
	}
	write := changed
	if full {
		write = make([]int, len(svcs))
		for i := range svcs {
			write[i] = i
		}
	}
	for _, i := range write {
		s := &svcs[i]
		fmt.Fprintf(b, ":%s - [0:0]\n", svcChain(s))
		for _, ep := range s.Endpoints {
			fmt.Fprintf(b, ":%s - [0:0]\n", sepChain(s, ep))
		}
	}
	for _, c := range stale {
		fmt.Fprintf(b, ":%s - [0:0]\n", c)
	}
	if full {
		b.WriteString(`-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
`)
	}
	mark := iptMasqMark + "/" + iptMasqMark
	b.WriteString("-A KUBE-POSTROUTING -m mark ! --mark " + mark + " -j RETURN\n")
	b.WriteString("-A KUBE-POSTROUTING -j MARK --xor-mark " + iptMasqMark + "\n")
	b.WriteString(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully` + "\n")
	b.WriteString("-A KUBE-MARK-MASQ -j MARK --or-mark " + iptMasqMark + "\n")
	for i := range svcs {
		s := &svcs[i]
		fmt.Fprintf(b, "-A KUBE-SERVICES -m comment --comment \"%s cluster IP\" -m tcp -p tcp -d %s/32 --dport %d -j %s\n",
			s.portName(), s.ClusterIP, s.Port, svcChain(s))
	}
	b.WriteString(`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS` + "\n")
	large := endpointCount(svcs) > iptLargeCluster
	for _, i := range write {
		g.service(b, &svcs[i], large)
	}
	for _, c := range stale {
		fmt.Fprintf(b, "-X %s\n", c)
	}
	b.WriteString("COMMIT\n")
}

func (g iptRuleset) service(b *bytes.Buffer, s *Service, large bool) {
	sc := svcChain(s)
	fmt.Fprintf(b, "-A %s -m comment --comment \"%s cluster IP\" -m tcp -p tcp -d %s/32 --dport %d ! -s %s -j KUBE-MARK-MASQ\n",
		sc, s.portName(), s.ClusterIP, s.Port, g.clusterCIDR)
	n := len(s.Endpoints)
	for i, ep := range s.Endpoints {
		fmt.Fprintf(b, "-A %s", sc)
		if !large {
			fmt.Fprintf(b, " -m comment --comment \"%s -> %s\"", s.portName(), ep)
		}
		if i < n-1 {
			fmt.Fprintf(b, " -m statistic --mode random --probability %s", iptProbability(n-i))
		}
		fmt.Fprintf(b, " -j %s\n", sepChain(s, ep))
	}
	comment := ""
	if !large {
		comment = " -m comment --comment " + s.portName()
	}
	for _, ep := range s.Endpoints {
		ec := sepChain(s, ep)
		fmt.Fprintf(b, "-A %s%s -s %s/32 -j KUBE-MARK-MASQ\n", ec, comment, ep.Addr())
		fmt.Fprintf(b, "-A %s%s -m tcp -p tcp -j DNAT --to-destination %s\n", ec, comment, ep)
	}
}

// iptProbability is kube-proxy's probability string for picking one of n
// remaining endpoints.
func iptProbability(n int) string {
	return strconv.FormatFloat(1/float64(n), 'f', 10, 64)
}

func endpointCount(svcs []Service) int {
	n := 0
	for i := range svcs {
		n += len(svcs[i].Endpoints)
	}
	return n
}

// staleChains lists the endpoint chains of old that new no longer has.
func staleChains(old, new *Service) []string {
	keep := map[string]bool{}
	for _, ep := range new.Endpoints {
		keep[sepChain(new, ep)] = true
	}
	var out []string
	for _, ep := range old.Endpoints {
		if c := sepChain(old, ep); !keep[c] {
			out = append(out, c)
		}
	}
	return out
}

// IptablesPath is kube-proxy's iptables mode: the ruleset above, loaded
// with iptables-restore inside the node namespace (the first sync in
// full, later ones as kube-proxy's partial syncs). Its note names the
// iptables backend installed (nf_tables or legacy).
func IptablesPath() Path { return iptablesPath("iptables", "iptables-restore") }

// IptablesLegacyPath is the same ruleset through iptables-legacy-restore
// (the x_tables kernel interface), which older distributions and
// kube-proxy's iptables-wrapper on legacy hosts use.
func IptablesLegacyPath() Path { return iptablesPath("iptables-legacy", "iptables-legacy-restore") }

func iptablesPath(name, bin string) Path {
	note := "kube-proxy iptables layout, "
	if v := commandVersion(bin); v != "" {
		note += v
	} else {
		note += bin + " not found"
	}
	return Path{Name: name, Note: note, New: func(_ context.Context, node Node) (LB, error) {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s path: %w (apt-get install iptables)", name, err)
		}
		return &iptLB{node: node.NS, bin: bin, gen: iptRuleset{clusterCIDR: node.ClusterCIDR}}, nil
	}}
}

type iptLB struct {
	node *sandbox.NS
	bin  string // iptables-restore or iptables-legacy-restore
	gen  iptRuleset
	last []Service
}

// restore runs iptables-restore inside the node namespace, with the
// flags kube-proxy uses.
func (l *iptLB) restore(ctx context.Context, input []byte, noflush bool) error {
	args := []string{"-w", "5", "-W", "100000", "--counters"}
	if noflush {
		args = append(args, "--noflush")
	}
	c := l.node.Command(ctx, l.bin, args...)
	c.Stdin = bytes.NewReader(input)
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("%s in %s: %w: %s", l.bin, l.node.Name(), errors.Join(err, ctx.Err()), strings.TrimSpace(string(out)))
	}
	return nil
}

func (l *iptLB) Program(ctx context.Context, svcs []Service) error {
	if err := l.restore(ctx, l.gen.Full(svcs), true); err != nil {
		return err
	}
	l.last = svcs
	return nil
}

func (l *iptLB) Update(ctx context.Context, svcs []Service, changed int) error {
	var stale []string
	if changed < len(l.last) {
		stale = staleChains(&l.last[changed], &svcs[changed])
	}
	if err := l.restore(ctx, l.gen.Partial(svcs, []int{changed}, stale), true); err != nil {
		return err
	}
	l.last = svcs
	return nil
}

// Clear flushes the filter and nat tables and deletes their chains
// (iptables-restore without --noflush); the node namespace holds no other
// iptables rules.
func (l *iptLB) Clear(ctx context.Context) error {
	l.last = nil
	return l.restore(ctx, []byte("*filter\nCOMMIT\n*nat\nCOMMIT\n"), false)
}
