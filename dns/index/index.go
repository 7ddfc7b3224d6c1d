package index

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/switchyard-net/switchyard/dns/wire"
)

// PodsMode is --dns-pods: how a-b-c-d.<ns>.pod.<zone> names are answered.
type PodsMode string

const (
	// PodsInsecure answers any well-formed dashed address in an existing
	// namespace with that address, without checking that a pod has it
	// (kube-dns's historical behaviour, the default).
	PodsInsecure PodsMode = "insecure"
	// PodsVerified answers only addresses of pods in that namespace.
	PodsVerified PodsMode = "verified"
	// PodsDisabled serves no pod records.
	PodsDisabled PodsMode = "disabled"
)

// ParsePodsMode validates a --dns-pods value.
func ParsePodsMode(s string) (PodsMode, error) {
	switch m := PodsMode(s); m {
	case PodsInsecure, PodsVerified, PodsDisabled:
		return m, nil
	}
	return "", fmt.Errorf("--dns-pods must be insecure, verified or disabled, not %q", s)
}

// Config of an Index.
type Config struct {
	// Zone is the cluster domain (cluster.local), with or without the
	// trailing dot.
	Zone string
	// TTL of every record and of negative answers (RFC 2308 SOA minimum).
	TTL uint32
	// DNSIP is the cluster DNS address, the target of the apex NS record.
	DNSIP netip.Addr
	// Pods is the pod records mode (default PodsInsecure).
	Pods PodsMode
	// Reverse are the address ranges whose reverse names the index answers
	// authoritatively (NXDOMAIN when unknown): the service and cluster
	// CIDRs. Other reverse names it does not know are forwarded.
	Reverse []netip.Prefix
}

const nShards = 64

type shard struct {
	mu   sync.RWMutex
	sets map[string]*Set
}

// Index holds the records. Create it with New, feed it through the
// informer handlers of Register (or the Set*/Delete* methods), and mark
// it synced with SetSynced.
type Index struct {
	cfg     Config
	b       builder
	podZone string // "pod.<zone>"
	shards  [nShards]shard
	// neg are the authority sections (the SOA) of negative answers, for the
	// cluster zone, in-addr.arpa. and ip6.arpa.
	neg       [3]atomic.Pointer[wire.Body]
	synced    atomic.Bool
	soaSerial atomic.Uint32

	mu     sync.Mutex // guards everything below
	names  map[string]*nameState
	owned  map[string][]string
	serial uint32
	objs   objects
}

// nameState is the writer's view of one name.
type nameState struct {
	contrib  map[string]*contribution // by owner
	children int                      // owned names below it
}

// New validates cfg and returns an empty index holding the static names.
func New(cfg Config) (*Index, error) {
	cfg.Zone = dns.Fqdn(strings.ToLower(cfg.Zone))
	if _, ok := dns.IsDomainName(cfg.Zone); !ok || cfg.Zone == "." {
		return nil, fmt.Errorf("cluster domain %q is not a domain name", cfg.Zone)
	}
	if cfg.Pods == "" {
		cfg.Pods = PodsInsecure
	}
	if _, err := ParsePodsMode(string(cfg.Pods)); err != nil {
		return nil, err
	}
	ix := &Index{cfg: cfg, b: builder{zone: cfg.Zone, ttl: cfg.TTL}, podZone: "pod." + cfg.Zone,
		names: map[string]*nameState{}, owned: map[string][]string{},
		serial: uint32(time.Now().Unix()), objs: newObjects()}
	for i := range ix.shards {
		ix.shards[i].sets = map[string]*Set{}
	}
	ix.mu.Lock()
	ix.setOwnerLocked("static", ix.b.staticRecords(cfg.DNSIP, cfg.Pods != PodsDisabled))
	ix.mu.Unlock()
	return ix, nil
}

// Zone is the cluster zone, fully qualified and lower case.
func (ix *Index) Zone() string { return ix.cfg.Zone }

// Synced reports whether SetSynced was called.
func (ix *Index) Synced() bool { return ix.synced.Load() }

// SetSynced marks the index complete: until then, in-zone queries get
// SERVFAIL.
func (ix *Index) SetSynced() { ix.synced.Store(true) }

// Kind classifies a lower-case fully qualified name.
func (ix *Index) Kind(name []byte) int {
	switch {
	case hasSuffixLabel(name, ix.cfg.Zone):
		return KindCluster
	case hasSuffixLabel(name, reverseV4), hasSuffixLabel(name, reverseV6):
		return KindReverse
	}
	return KindForward
}

// Lookup returns the Set of a lower-case fully qualified name, or nil.
// It does not allocate.
func (ix *Index) Lookup(name []byte) *Set {
	sh := &ix.shards[hash(name)%nShards]
	sh.mu.RLock()
	s := sh.sets[string(name)]
	sh.mu.RUnlock()
	return s
}

// Len is the number of names held.
func (ix *Index) Len() int {
	n := 0
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.RLock()
		n += len(sh.sets)
		sh.mu.RUnlock()
	}
	return n
}

func hash[T string | []byte](s T) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// Negative is the authority section (the SOA of the name's zone) of
// negative answers for name.
func (ix *Index) Negative(name []byte) *wire.Body {
	switch {
	case hasSuffixLabel(name, reverseV4):
		return ix.neg[1].Load()
	case hasSuffixLabel(name, reverseV6):
		return ix.neg[2].Load()
	}
	return ix.neg[0].Load()
}

// setOwner replaces everything owner contributes with r.
func (ix *Index) setOwner(owner string, r records) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.setOwnerLocked(owner, r)
}

func (ix *Index) setOwnerLocked(owner string, r records) {
	touched := map[string]bool{}
	for _, name := range ix.owned[owner] {
		if _, keep := r[name]; keep {
			continue
		}
		delete(ix.names[name].contrib, owner)
		ix.walkAncestors(name, -1, touched)
		touched[name] = true
	}
	names := make([]string, 0, len(r))
	for name, c := range r {
		st := ix.names[name]
		if st == nil {
			st = &nameState{contrib: map[string]*contribution{}}
			ix.names[name] = st
		}
		if _, had := st.contrib[owner]; !had {
			ix.walkAncestors(name, +1, touched)
		}
		st.contrib[owner] = c
		touched[name] = true
		names = append(names, name)
	}
	if len(names) == 0 {
		delete(ix.owned, owner)
	} else {
		ix.owned[owner] = names
	}
	for name := range touched {
		ix.publish(name)
	}
	ix.serial++
	ix.soaSerial.Store(ix.serial)
	ix.publishSOA()
}

// walkAncestors adds delta to the child count of name's ancestors below
// its zone's apex.
func (ix *Index) walkAncestors(name string, delta int, touched map[string]bool) {
	apex := ix.apexOf(name)
	for p := parent(name); p != "" && p != apex && len(p) > len(apex); p = parent(p) {
		st := ix.names[p]
		if st == nil {
			st = &nameState{contrib: map[string]*contribution{}}
			ix.names[p] = st
		}
		st.children += delta
		touched[p] = true
	}
}

func (ix *Index) apexOf(name string) string {
	switch {
	case hasSuffixLabel(name, ix.cfg.Zone):
		return ix.cfg.Zone
	case hasSuffixLabel(name, reverseV4):
		return reverseV4
	case hasSuffixLabel(name, reverseV6):
		return reverseV6
	}
	return "."
}

// publish rebuilds the Set of name from its state and swaps it in.
func (ix *Index) publish(name string) {
	st := ix.names[name]
	sh := &ix.shards[hash(name)%nShards]
	if st == nil || (len(st.contrib) == 0 && st.children <= 0 && name != ix.cfg.Zone) {
		delete(ix.names, name)
		sh.mu.Lock()
		delete(sh.sets, name)
		sh.mu.Unlock()
		return
	}
	owners := make([]string, 0, len(st.contrib))
	for o := range st.contrib {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	var parts []*contribution
	for _, o := range owners {
		parts = append(parts, st.contrib[o])
	}
	if name == ix.cfg.Zone {
		parts = append(parts, &contribution{rrs: []dns.RR{ix.b.soa(name, ix.serial)}})
	}
	set := buildSet(name, parts)
	sh.mu.Lock()
	sh.sets[name] = set
	sh.mu.Unlock()
}

// publishSOA refreshes the negative-answer bodies and the apex's SOA with
// the current serial.
func (ix *Index) publishSOA() {
	for i, apex := range []string{ix.cfg.Zone, reverseV4, reverseV6} {
		body, err := wire.Pack("", wire.Sections{Ns: []dns.RR{ix.b.soa(apex, ix.serial)}})
		if err != nil {
			panic(fmt.Sprintf("pack SOA: %v", err)) // fixed, valid records: cannot fail
		}
		ix.neg[i].Store(&body)
	}
	ix.publish(ix.cfg.Zone)
}

// SOA is the SOA record of the zone name is in (the cluster zone,
// in-addr.arpa. or ip6.arpa.), for negative answers built by hand.
func (ix *Index) SOA(name string) dns.RR {
	apex := ix.apexOf(name)
	if apex == "." {
		apex = ix.cfg.Zone
	}
	return ix.b.soa(apex, ix.soaSerial.Load())
}
