package index

import (
	"strings"

	"github.com/miekg/dns"

	"github.com/switchyard-net/switchyard/dns/wire"
)

// Action says what the server does with a question.
type Action uint8

const (
	// Answer with Result.Rcode and Result.Body, authoritatively.
	Answer Action = iota
	// Chase: Result.Set is an alias (CNAME) to follow for the query type.
	Chase
	// Forward: not a name the index answers for.
	Forward
	// NotReady: in-zone, but the index has not synced yet (SERVFAIL).
	NotReady
)

// Result of Resolve.
type Result struct {
	Action Action
	Rcode  int
	Body   *wire.Body
	Set    *Set
}

// Resolve answers a question for the lower-case fully qualified name. odd
// names (labels with bytes presentation format escapes) exist nowhere in
// the zone. It allocates only for synthesized pod records.
func (ix *Index) Resolve(name []byte, qtype uint16, odd bool) Result {
	kind := ix.Kind(name)
	if kind == KindForward {
		return Result{Action: Forward}
	}
	if !ix.synced.Load() {
		if kind == KindReverse && !ix.reverseOwned(name) {
			return Result{Action: Forward}
		}
		return Result{Action: NotReady}
	}
	var set *Set
	if !odd {
		set = ix.Lookup(name)
		if set == nil && kind == KindCluster {
			set = ix.synthesizePod(name)
		}
	}
	if set == nil {
		if kind == KindReverse && !ix.reverseOwned(name) {
			return Result{Action: Forward}
		}
		return Result{Action: Answer, Rcode: wire.RcodeNXDomain, Body: ix.Negative(name)}
	}
	if set.CNAME != "" && qtype != dns.TypeCNAME && qtype != dns.TypeANY {
		return Result{Action: Chase, Set: set}
	}
	if b := set.Body(qtype); b != nil {
		return Result{Action: Answer, Body: b, Set: set}
	}
	return Result{Action: Answer, Body: ix.Negative(name), Set: set}
}

// reverseOwned reports whether a reverse name is inside the ranges the
// index answers for authoritatively. Partial names (fewer labels than an
// address) are owned when the whole range they cover is.
func (ix *Index) reverseOwned(name []byte) bool {
	ip, ok := ReverseIP(string(name))
	if !ok {
		return false
	}
	for _, p := range ix.cfg.Reverse {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// synthesizePod answers a-b-c-d.<ns>.pod.<zone> in insecure mode for a
// namespace that exists.
func (ix *Index) synthesizePod(name []byte) *Set {
	if ix.cfg.Pods != PodsInsecure || !hasSuffixLabel(name, ix.podZone) {
		return nil
	}
	s := string(name)
	label, rest, _ := strings.Cut(s, ".")
	ns, tail, _ := strings.Cut(rest, ".")
	if ns == "" || tail != "pod."+ix.cfg.Zone || ix.Lookup([]byte(rest)) == nil {
		return nil
	}
	ip, ok := undash(label)
	if !ok {
		return nil
	}
	return buildSet(s, []*contribution{{rrs: []dns.RR{ix.b.addr(s, ip)}}})
}
