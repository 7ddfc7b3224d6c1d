package router

import (
	"cmp"
	"regexp"
	"slices"
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
	// Regex matches when Rule.Regex matches the whole path (Gateway API
	// RegularExpression; ranked after Exact and before Prefix, as Envoy
	// Gateway ranks it: the spec leaves it to the implementation).
	Regex
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

// Rule is one host/path of an Ingress (or one match of an HTTPRoute rule
// for one of its hostnames) and the target serving it.
type Rule[T any] struct {
	// Host is "" (catch-all), an exact host or "*.suffix"; matched
	// case-insensitively. "*.suffix" covers exactly one more label
	// (Ingress) unless DeepWildcard is set (Gateway API: any number of
	// labels, but at least one).
	Host         string
	DeepWildcard bool
	Path         string
	Type         PathType
	// Regex is the compiled pattern of a Regex rule (see [CompileRegex]).
	Regex *regexp.Regexp
	// Cond narrows the rule to requests with this method, these headers
	// and query parameters (Gateway API).
	Cond  Conditions
	Order Order
	// Seq ranks rules of the same Order: the position of the rule and
	// match inside its route.
	Seq int
	// Target is what a match returns.
	Target T
}

// Conditions are the parts of an HTTPRoute match beyond the path. All of
// them must hold.
type Conditions struct {
	Method  string // "" any
	Headers []ValueMatch
	Query   []ValueMatch
}

// ValueMatch is a header (Name lower-case, matched case-insensitively) or
// query parameter (Name matched exactly) condition: the first value equals
// Value, or Regex (when set) matches all of it.
type ValueMatch struct {
	Name  string
	Value string
	Regex *regexp.Regexp
}

func (c *Conditions) empty() bool {
	return c.Method == "" && len(c.Headers) == 0 && len(c.Query) == 0
}

// CompileRegex compiles an RE2 pattern so that it must match a whole value.
func CompileRegex(pattern string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + pattern + ")$")
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
	wildcard map[string]*hostRules[T] // lowercased suffix after "*." (one label)
	deep     map[string]*hostRules[T] // lowercased suffix after "*." (any labels)
	any      *hostRules[T]            // rules without host; nil if none
	def      *T                       // global default backend
	defOrd   Order
	rules    int
}

// hostRules are the paths of one host.
type hostRules[T any] struct {
	exact  map[string]*ranked[T]
	regex  []*ranked[T]          // in precedence order
	prefix map[string]*ranked[T] // normalised: no trailing '/', "" for "/"
	def    *T                    // default backend for this host
	defOrd Order
	maxLen int // longest prefix key, to skip longer candidates
}

// ranked are the rules of one host and path, best first: those with a
// method, then more headers, then more query parameters (the Gateway API
// precedence), then by Order and Seq. Rules without conditions end the
// list (an Ingress path has just one).
type ranked[T any] struct {
	cands []cand[T]
	re    *regexp.Regexp // Regex rules only
}

type cand[T any] struct {
	cond   Conditions
	order  Order
	seq    int
	target T
}

func compareCand[T any](a, b cand[T]) int {
	am, bm := a.cond.Method != "", b.cond.Method != ""
	if am != bm {
		if am {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(len(b.cond.Headers), len(a.cond.Headers)); c != 0 {
		return c
	}
	if c := cmp.Compare(len(b.cond.Query), len(a.cond.Query)); c != 0 {
		return c
	}
	if c := a.order.Compare(b.order); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// Compile builds a table from rules and defaults. Rules with an invalid
// path (not starting with '/') or host are skipped; the caller validates
// and reports them (see [ValidPath], [ValidHost]).
func Compile[T any](rules []Rule[T], defaults []Default[T]) *Table[T] {
	t := &Table[T]{exact: map[string]*hostRules[T]{}, wildcard: map[string]*hostRules[T]{}}
	t.deep = map[string]*hostRules[T]{}
	for _, r := range rules {
		if !ValidPath(r.Path) && r.Type != Regex || !ValidHost(r.Host) || r.Type == Regex && r.Regex == nil {
			continue
		}
		host := strings.ToLower(r.Host)
		var hr *hostRules[T]
		if r.DeepWildcard && strings.HasPrefix(host, "*.") {
			if hr = t.deep[host[2:]]; hr == nil {
				hr = newHostRules[T]()
				t.deep[host[2:]] = hr
			}
		} else {
			hr = t.hostFor(host, true)
		}
		add(hr, r)
		t.rules++
	}
	for _, hr := range t.all() {
		for _, rk := range hr.exact {
			slices.SortStableFunc(rk.cands, compareCand)
		}
		for _, rk := range hr.prefix {
			slices.SortStableFunc(rk.cands, compareCand)
		}
		slices.SortStableFunc(hr.regex, func(a, b *ranked[T]) int { return compareCand(a.cands[0], b.cands[0]) })
	}
	for _, d := range defaults {
		t.addDefault(d)
	}
	return t
}

func (t *Table[T]) all() []*hostRules[T] {
	var out []*hostRules[T]
	for _, m := range []map[string]*hostRules[T]{t.exact, t.wildcard, t.deep} {
		for _, hr := range m {
			out = append(out, hr)
		}
	}
	if t.any != nil {
		out = append(out, t.any)
	}
	return out
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
	c := cand[T]{cond: r.Cond, order: r.Order, seq: r.Seq, target: r.Target}
	if r.Type == Regex {
		hr.regex = append(hr.regex, &ranked[T]{cands: []cand[T]{c}, re: r.Regex})
		return
	}
	m, key := hr.exact, r.Path
	if r.Type != Exact {
		m, key = hr.prefix, strings.TrimRight(r.Path, "/")
		hr.maxLen = max(hr.maxLen, len(key))
	}
	if old := m[key]; old != nil {
		old.cands = append(old.cands, c)
		return
	}
	m[key] = &ranked[T]{cands: []cand[T]{c}}
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
