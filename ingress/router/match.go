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

// Match returns the target for a request with this Host header and path
// (the request's URL path, without query). ok is false when neither a
// rule nor a default backend applies (the proxy answers 404). It does not
// allocate and is safe for concurrent use.
func (t *Table[T]) Match(host, path []byte) (target T, ok bool) {
	var buf HostBuf
	h, hostOK := NormalizeHost(&buf, host)
	var hostDef *T
	if hostOK {
		if hr := t.exact[string(h)]; hr != nil {
			if r := hr.match(path); r != nil {
				return r.target, true
			}
			hostDef = hr.def
		}
		if dot := bytes.IndexByte(h, '.'); dot > 0 {
			if hr := t.wildcard[string(h[dot+1:])]; hr != nil {
				if r := hr.match(path); r != nil {
					return r.target, true
				}
				if hostDef == nil {
					hostDef = hr.def
				}
			}
		}
	}
	if t.any != nil {
		if r := t.any.match(path); r != nil {
			return r.target, true
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

// match finds the best path of one host: an Exact match (always the
// longest possible), else the longest element-wise Prefix.
func (hr *hostRules[T]) match(path []byte) *ranked[T] {
	if len(hr.exact) > 0 {
		if r := hr.exact[string(path)]; r != nil {
			return r
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
				return r
			}
		}
		if len(p) == 0 {
			return nil
		}
		p = p[:bytes.LastIndexByte(p, '/')]
	}
}
