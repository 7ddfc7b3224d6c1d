package router

import (
	"strings"
	"time"
)

// PathType is how a rule's path matches.
type PathType uint8

const (
	// Prefix matches element-wise on '/' (also ImplementationSpecific).
	Prefix PathType = iota
	// Exact matches the whole path.
	Exact
)

// Order ranks rules with the same host and path (and default backends):
// the oldest Ingress wins, then the smallest "namespace/name".
type Order struct {
	Created time.Time
	Key     string
}

// Compare is -1 when o ranks before p, +1 when after, 0 when equal (for
// slices.SortFunc).
func (o Order) Compare(p Order) int {
	if c := o.Created.Compare(p.Created); c != 0 {
		return c
	}
	return strings.Compare(o.Key, p.Key)
}

func (o Order) before(p Order) bool { return o.Compare(p) < 0 }

// Rule is one host/path of an Ingress and the target serving it.
type Rule[T any] struct {
	// Host is "" (catch-all), an exact host or "*.suffix"; matched
	// case-insensitively.
	Host  string
	Path  string
	Type  PathType
	Order Order
	// Target is what a match returns.
	Target T
}

// Default is an Ingress's defaultBackend. Hosts are the hosts of the
// Ingress's rules (it applies first to requests for those hosts).
type Default[T any] struct {
	Hosts  []string
	Order  Order
	Target T
}

// Table is a compiled, immutable set of rules. It is safe for concurrent
// use; build a new one with [Compile] to change it.
type Table[T any] struct {
	exact    map[string]*hostRules[T] // lowercased host
	wildcard map[string]*hostRules[T] // lowercased suffix after "*."
	any      *hostRules[T]            // rules without host; nil if none
	def      *T                       // global default backend
	defOrd   Order
	rules    int
}

// hostRules are the paths of one host.
type hostRules[T any] struct {
	exact  map[string]*ranked[T]
	prefix map[string]*ranked[T] // normalised: no trailing '/', "" for "/"
	def    *T                    // default backend for this host
	defOrd Order
	maxLen int // longest prefix key, to skip longer candidates
}

type ranked[T any] struct {
	order  Order
	target T
}

// Compile builds a table from rules and defaults. Rules with an invalid
// path (not starting with '/') or host are skipped; the caller validates
// and reports them (see [ValidPath], [ValidHost]).
func Compile[T any](rules []Rule[T], defaults []Default[T]) *Table[T] {
	t := &Table[T]{exact: map[string]*hostRules[T]{}, wildcard: map[string]*hostRules[T]{}}
	for _, r := range rules {
		if !ValidPath(r.Path) || !ValidHost(r.Host) {
			continue
		}
		hr := t.hostFor(strings.ToLower(r.Host), true)
		add(hr, r)
		t.rules++
	}
	for _, d := range defaults {
		t.addDefault(d)
	}
	return t
}

func (t *Table[T]) hostFor(host string, create bool) *hostRules[T] {
	var m map[string]*hostRules[T]
	key := host
	switch {
	case host == "":
		if t.any == nil && create {
			t.any = newHostRules[T]()
		}
		return t.any
	case strings.HasPrefix(host, "*."):
		m, key = t.wildcard, host[2:]
	default:
		m = t.exact
	}
	hr := m[key]
	if hr == nil && create {
		hr = newHostRules[T]()
		m[key] = hr
	}
	return hr
}

func newHostRules[T any]() *hostRules[T] {
	return &hostRules[T]{exact: map[string]*ranked[T]{}, prefix: map[string]*ranked[T]{}}
}

func add[T any](hr *hostRules[T], r Rule[T]) {
	m, key := hr.exact, r.Path
	if r.Type != Exact {
		m, key = hr.prefix, strings.TrimRight(r.Path, "/")
		hr.maxLen = max(hr.maxLen, len(key))
	}
	if old := m[key]; old != nil && !r.Order.before(old.order) {
		return
	}
	m[key] = &ranked[T]{order: r.Order, target: r.Target}
}

func (t *Table[T]) addDefault(d Default[T]) {
	target := d.Target
	for _, h := range d.Hosts {
		if h == "" || !ValidHost(h) {
			continue
		}
		hr := t.hostFor(strings.ToLower(h), false)
		if hr != nil && (hr.def == nil || d.Order.before(hr.defOrd)) {
			hr.def, hr.defOrd = &target, d.Order
		}
	}
	if t.def == nil || d.Order.before(t.defOrd) {
		t.def, t.defOrd = &target, d.Order
	}
}

// Len is the number of rules compiled in.
func (t *Table[T]) Len() int { return t.rules }

// ValidPath reports whether p is a usable Ingress path (absolute).
func ValidPath(p string) bool { return strings.HasPrefix(p, "/") }

// ValidHost reports whether h is "" or a host (optionally "*." + host)
// without port, as the API validates it.
func ValidHost(h string) bool {
	h = strings.TrimPrefix(h, "*.")
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c == '*' || c == ':' || c == '/' || c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
