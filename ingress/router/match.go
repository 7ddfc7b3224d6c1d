package router

import "bytes"

// MaxHostLen is the longest Host (without port) that can match a host
// rule; longer ones only reach rules without host. DNS names are at most
// 253 characters.
const MaxHostLen = 255

// HostBuf is scratch space for [NormalizeHost]; keep it on the stack.
type HostBuf [MaxHostLen]byte

// NormalizeHost turns a Host header value into the form rules are keyed
// by: the port and a trailing dot removed, brackets of an IPv6 literal
// removed, lowercased (into buf when it has upper-case letters). It
// returns false for a host that cannot match a host rule (empty, too
// long, an empty label, or a character that is not allowed); such requests only see rules without host. It
// does not allocate.
func NormalizeHost(buf *HostBuf, host []byte) ([]byte, bool) {
	h := host
	if len(h) > 0 && h[0] == '[' {
		end := bytes.IndexByte(h, ']')
		if end < 0 {
			return nil, false
		}
		h = h[1:end]
	} else if i := bytes.IndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	if len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	if len(h) == 0 || len(h) > MaxHostLen || h[len(h)-1] == '.' {
		return nil, false
	}
	lower := true
	prev := byte('.') // a leading dot is an empty label
	for _, c := range h {
		if c <= ' ' || c >= 0x7f || c == '/' || c == '*' || (c == '.' && prev == '.') {
			return nil, false
		}
		prev = c
		if 'A' <= c && c <= 'Z' {
			lower = false
		}
	}
	if lower {
		return h, true
	}
	for i, c := range h {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(h)], true
}

// Request is what [Conditions] look at beyond host and path. The proxy's
// engines implement it over their parsed requests without copying.
type Request interface {
	// Method is the request method.
	Method() []byte
	// Header is the first value of the header named lower (lower-case
	// ASCII; header names match case-insensitively).
	Header(lower string) ([]byte, bool)
	// Query is the first value of the query parameter named name
	// (matched exactly), percent-decoded.
	Query(name string) ([]byte, bool)
}

// Match returns the target for a request with this Host header and path
// (the request's URL path, without query). ok is false when neither a
// rule nor a default backend applies (the proxy answers 404). It does not
// allocate and is safe for concurrent use. Rules with conditions never
// match here; use [Table.MatchRequest].
func (t *Table[T]) Match(host, path []byte) (target T, ok bool) {
	return t.MatchRequest(host, path, nil)
}

// MatchRequest is Match for rules with conditions too, evaluated against
// req (nil: only rules without conditions match).
//
// Hosts are tried most specific first: the exact host, then wildcards
// from the longest suffix, then rules without host; within a host, an
// Exact path, then regular expressions, then the longest Prefix; within a
// path, the rules in [ranked] order. A host or path whose rules all fail
// their conditions falls through to the next.
func (t *Table[T]) MatchRequest(host, path []byte, req Request) (target T, ok bool) {
	var buf HostBuf
	h, hostOK := NormalizeHost(&buf, host)
	var hostDef *T
	if hostOK {
		if hr := t.exact[string(h)]; hr != nil {
			if c := hr.match(path, req); c != nil {
				return c.target, true
			}
			hostDef = hr.def
		}
		if dot := bytes.IndexByte(h, '.'); dot > 0 {
			if hr := t.wildcard[string(h[dot+1:])]; hr != nil {
				if c := hr.match(path, req); c != nil {
					return c.target, true
				}
				if hostDef == nil {
					hostDef = hr.def
				}
			}
		}
		if len(t.deep) > 0 {
			for s := h; ; {
				dot := bytes.IndexByte(s, '.')
				if dot <= 0 {
					break
				}
				s = s[dot+1:]
				if hr := t.deep[string(s)]; hr != nil {
					if c := hr.match(path, req); c != nil {
						return c.target, true
					}
				}
			}
		}
	}
	if t.any != nil {
		if c := t.any.match(path, req); c != nil {
			return c.target, true
		}
	}
	switch {
	case hostDef != nil:
		return *hostDef, true
	case t.def != nil:
		return *t.def, true
	}
	return target, false
}

// match finds the best rule of one host: an Exact match (always the
// longest possible), else a regular expression, else the longest
// element-wise Prefix, each only if its conditions hold.
func (hr *hostRules[T]) match(path []byte, req Request) *cand[T] {
	if len(hr.exact) > 0 {
		if r := hr.exact[string(path)]; r != nil {
			if c := r.pick(req); c != nil {
				return c
			}
		}
	}
	for _, r := range hr.regex {
		if r.re.Match(path) {
			if c := r.pick(req); c != nil {
				return c
			}
		}
	}
	if len(hr.prefix) == 0 || len(path) == 0 || path[0] != '/' {
		return nil
	}
	p := path
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	for {
		if len(p) <= hr.maxLen {
			if r := hr.prefix[string(p)]; r != nil {
				if c := r.pick(req); c != nil {
					return c
				}
			}
		}
		if len(p) == 0 {
			return nil
		}
		p = p[:bytes.LastIndexByte(p, '/')]
	}
}

// pick returns the first candidate whose conditions hold.
func (r *ranked[T]) pick(req Request) *cand[T] {
	for i := range r.cands {
		c := &r.cands[i]
		if c.cond.empty() || req != nil && c.cond.holds(req) {
			return c
		}
	}
	return nil
}

func (c *Conditions) holds(req Request) bool {
	if c.Method != "" && string(req.Method()) != c.Method {
		return false
	}
	for i := range c.Headers {
		m := &c.Headers[i]
		v, ok := req.Header(m.Name)
		if !ok || !m.matches(v) {
			return false
		}
	}
	for i := range c.Query {
		m := &c.Query[i]
		v, ok := req.Query(m.Name)
		if !ok || !m.matches(v) {
			return false
		}
	}
	return true
}

func (m *ValueMatch) matches(v []byte) bool {
	if m.Regex != nil {
		return m.Regex.Match(v)
	}
	return string(v) == m.Value
}
