package proxy

import (
	"bytes"
	"iter"
	"math/rand/v2"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard-net/switchyard/ingress/proxy/h1"
)

// Filters are the Gateway API HTTPRoute filters of a route rule, applied
// by the fasthttp and HTTP/2 engines (the event loop hands requests of
// routes with filters to fasthttp).
type Filters struct {
	RequestHeaders  HeaderMod
	ResponseHeaders HeaderMod
	// Redirect answers with a redirect instead of forwarding.
	Redirect *Redirect
	// Rewrite changes the Host and path sent upstream.
	Rewrite *Rewrite
	// Mirrors get a copy of each request whose body is in memory; their
	// answers are discarded.
	Mirrors []*Backend
}

// HeaderMod is a header filter: Set replaces, Add appends, Remove deletes
// (names are matched case-insensitively).
type HeaderMod struct {
	Set, Add []Header
	Remove   []string
}

// Header is one header field.
type Header struct{ Name, Value string }

func (m *HeaderMod) empty() bool { return len(m.Set)+len(m.Add)+len(m.Remove) == 0 }

// PathMod rewrites a path: to Full, or its matched Prefix replaced by
// Replacement (Full == "" and PrefixSet).
//
// Regex, when set, is an ingress-nginx rewrite-target: a path it matches
// (anywhere, as nginx's rewrite directive does) is replaced whole by
// Template with $1..$9 expanded to its groups; other paths are kept.
type PathMod struct {
	Regex       *regexp.Regexp
	Template    string
	Full        string
	PrefixSet   bool
	Prefix      string // the rule's PathPrefix match
	Replacement string
}

// Apply returns the new path for path.
func (m *PathMod) Apply(path string) string {
	if m.Regex != nil {
		sub := m.Regex.FindStringSubmatchIndex(path)
		if sub == nil {
			return path
		}
		out := string(m.Regex.ExpandString(nil, m.Template, path, sub))
		if out == "" || out[0] != '/' {
			out = "/" + out
		}
		return out
	}
	if !m.PrefixSet {
		return m.Full
	}
	prefix := strings.TrimRight(m.Prefix, "/")
	rest := strings.TrimPrefix(path, prefix)
	repl := m.Replacement
	if strings.HasSuffix(repl, "/") && strings.HasPrefix(rest, "/") {
		rest = rest[1:]
	}
	out := repl + rest
	if out == "" || out[0] != '/' {
		out = "/" + out
	}
	return out
}

// Redirect is a RequestRedirect filter; empty fields keep the request's
// value.
type Redirect struct {
	Scheme, Hostname string
	Port             int // 0: see Location
	Path             *PathMod
	StatusCode       int // default 302
}

// Location builds the redirect target for a request (scheme, Host header,
// path and raw query as received; listenerPort the port it came in on).
// As the spec says: without a port, a given scheme implies its well-known
// port, otherwise the listener's port is kept; a scheme's well-known port
// is left out of the URL.
func (r *Redirect) Location(scheme, host, path, rawQuery string, listenerPort int) string {
	h := hostOnly(host)
	if r.Hostname != "" {
		h = r.Hostname
	}
	port := r.Port
	if r.Scheme != "" {
		scheme = r.Scheme
	}
	if port == 0 {
		if r.Scheme != "" {
			port = wellKnownPort(scheme)
		} else {
			port = listenerPort
		}
	}
	if r.Path != nil {
		path = r.Path.Apply(path)
	}
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString("://")
	if strings.IndexByte(h, ':') >= 0 {
		h = "[" + h + "]"
	}
	b.WriteString(h)
	if port != 0 && port != wellKnownPort(scheme) {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(port))
	}
	b.WriteString(path)
	if rawQuery != "" {
		b.WriteByte('?')
		b.WriteString(rawQuery)
	}
	return b.String()
}

func wellKnownPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// Rewrite is a URLRewrite filter.
type Rewrite struct {
	Hostname string
	Path     *PathMod
}

// Weighted is one backendRef of a rule with its weight.
type Weighted struct {
	Backend *Backend
	Weight  int
}

// choose resolves a backend with weighted backendRefs to one of them
// (weight-proportional, at random); other backends are returned as they
// are. A split whose weights are all zero answers 500, as the spec says.
func (b *Backend) choose() *Backend {
	if len(b.Split) == 0 {
		return b
	}
	if b.splitTotal == 0 {
		return b // Status 500 set by NewSplit
	}
	n := rand.IntN(b.splitTotal)
	for _, w := range b.Split {
		if n < w.Weight {
			return w.Backend
		}
		n -= w.Weight
	}
	return b.Split[len(b.Split)-1].Backend
}

// NewSplit returns a backend that sends each request to one of ws by
// weight; its own options (filters) are not used: each of ws has them.
func (p *Proxy) NewSplit(route string, ws []Weighted) *Backend {
	b := &Backend{Ingress: route, Split: ws, metrics: p.metrics.route(route, "")}
	for _, w := range ws {
		b.splitTotal += max(w.Weight, 0)
	}
	if b.splitTotal == 0 {
		b.Status = http.StatusInternalServerError
	}
	return b
}

// fastView is the router's view of a fasthttp request.
type fastView fasthttp.RequestCtx

func (v *fastView) Method() []byte { return (*fasthttp.RequestCtx)(v).Method() }
func (v *fastView) Header(lower string) ([]byte, bool) {
	// Header names are kept as sent (DisableHeaderNamesNormalizing), so
	// Peek would be case-sensitive.
	var val []byte
	found := false
	for k, x := range (*fasthttp.RequestCtx)(v).Request.Header.All() {
		if !found && h1.EqualFold(k, lower) {
			val, found = x, true
		}
	}
	return val, found
}
func (v *fastView) Query(name string) ([]byte, bool) {
	args := (*fasthttp.RequestCtx)(v).QueryArgs()
	if !args.Has(name) {
		return nil, false
	}
	return args.Peek(name), true
}

// loopView is the router's view of a request the event loop parsed; buf
// holds a percent-decoded query value.
type loopView struct {
	r      *h1.Request
	buf    [256]byte
	keyBuf [128]byte
}

func (v *loopView) Method() []byte { return v.r.Method }
func (v *loopView) Header(lower string) ([]byte, bool) {
	for _, f := range v.r.Fields {
		if h1.EqualFold(f.Name, lower) {
			return f.Value, true
		}
	}
	return nil, false
}
func (v *loopView) Query(name string) ([]byte, bool) {
	q := v.r.Target[len(v.r.Path):]
	if len(q) == 0 {
		return nil, false
	}
	q = q[1:]
	for len(q) > 0 {
		pair := q
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			pair, q = q[:i], q[i+1:]
		} else {
			q = nil
		}
		k, val := pair, []byte(nil)
		if i := bytes.IndexByte(pair, '='); i >= 0 {
			k, val = pair[:i], pair[i+1:]
		}
		if bytes.IndexByte(k, '%') >= 0 || bytes.IndexByte(k, '+') >= 0 {
			dk, ok := unescapeInto(v.keyBuf[:0], k)
			if !ok {
				continue
			}
			k = dk
		}
		if string(k) != name {
			continue
		}
		if bytes.IndexByte(val, '%') < 0 && bytes.IndexByte(val, '+') < 0 {
			return val, true
		}
		return unescapeInto(v.buf[:0], val)
	}
	return nil, false
}

// unescapeInto percent-decodes a query value into dst (bounded by its
// capacity: a longer value does not match).
func unescapeInto(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if len(dst) == cap(dst) {
			return nil, false
		}
		c := s[i]
		switch {
		case c == '+':
			c = ' '
		case c == '%' && i+2 < len(s):
			hi, lo := unhex(s[i+1]), unhex(s[i+2])
			if hi < 0 || lo < 0 {
				return nil, false
			}
			c = byte(hi<<4 | lo)
			i += 2
		case c == '%':
			return nil, false
		}
		dst = append(dst, c)
	}
	return dst, true
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// httpView is the router's view of a net/http request (HTTP/2).
type httpView struct{ r *http.Request }

func (v httpView) Method() []byte { return []byte(v.r.Method) }
func (v httpView) Header(lower string) ([]byte, bool) {
	vals := v.r.Header[textproto.CanonicalMIMEHeaderKey(lower)]
	if len(vals) == 0 {
		return nil, false
	}
	return []byte(vals[0]), true
}
func (v httpView) Query(name string) ([]byte, bool) {
	q, err := url.ParseQuery(v.r.URL.RawQuery)
	if err != nil {
		return nil, false
	}
	vals, ok := q[name]
	if !ok || len(vals) == 0 {
		return nil, false
	}
	return []byte(vals[0]), true
}

// applyFast applies request header and URL rewrite filters to a request
// on its way upstream.
func (f *Filters) applyFast(req *fasthttp.Request) {
	h := &req.Header
	m := &f.RequestHeaders
	for _, x := range m.Set {
		delFold(h.All(), h.DelBytes, x.Name)
		h.Set(x.Name, x.Value)
	}
	for _, x := range m.Add {
		h.Add(x.Name, x.Value)
	}
	for _, n := range m.Remove {
		delFold(h.All(), h.DelBytes, n)
	}
	if rw := f.Rewrite; rw != nil {
		if rw.Hostname != "" {
			h.SetHost(rw.Hostname)
			req.URI().SetHost(rw.Hostname)
		}
		if rw.Path != nil {
			req.URI().SetPath(rw.Path.Apply(string(req.URI().Path())))
		}
	}
}

// applyFastResponse applies response header filters.
func (m *HeaderMod) applyFastResponse(h *fasthttp.ResponseHeader) {
	for _, x := range m.Set {
		delFold(h.All(), h.DelBytes, x.Name)
		h.Set(x.Name, x.Value)
	}
	for _, x := range m.Add {
		h.Add(x.Name, x.Value)
	}
	for _, n := range m.Remove {
		delFold(h.All(), h.DelBytes, n)
	}
}

// delFold deletes every header named name in any letter case: header
// names are kept as sent (DisableHeaderNamesNormalizing), so fasthttp's
// Del would miss "x-a" for "X-A".
func delFold(all iter.Seq2[[]byte, []byte], del func([]byte), name string) {
	name = strings.ToLower(name) // h1.EqualFold wants it lower case
	var keys [][]byte
	for k := range all {
		if h1.EqualFold(k, name) {
			keys = append(keys, append([]byte(nil), k...))
		}
	}
	for _, k := range keys {
		del(k)
	}
}

// applyHTTP applies a header filter to net/http headers.
func (m *HeaderMod) applyHTTP(h http.Header) {
	for _, x := range m.Set {
		h.Set(x.Name, x.Value)
	}
	for _, x := range m.Add {
		h.Add(x.Name, x.Value)
	}
	for _, n := range m.Remove {
		h.Del(n)
	}
}

func redirectCode(r *Redirect) int {
	if r.StatusCode != 0 {
		return r.StatusCode
	}
	return http.StatusFound
}

// gatewayRedirect answers a RequestRedirect filter.
func (p *Proxy) gatewayRedirect(ctx *fasthttp.RequestCtx, b *Backend, r *Redirect, start time.Time) {
	scheme, port := "http", p.httpPort
	if ctx.IsTLS() {
		scheme, port = "https", p.httpsPort
	}
	lp, _ := strconv.Atoi(string(port))
	uri := ctx.URI()
	loc := r.Location(scheme, string(ctx.Host()), string(uri.PathOriginal()), string(uri.QueryString()), lp)
	ctx.Response.Header.Set("Location", loc)
	p.fastStatus(ctx, b, nil, redirectCode(r), "", start)
}

// mirrorFast sends a copy of req to one endpoint of each mirror backend
// and forgets it: the client's response never waits for a mirror.
func (p *Proxy) mirrorFast(req *fasthttp.Request, mirrors []*Backend) {
	for _, m := range mirrors {
		u := m.pick(nil, time.Now().UnixNano())
		if u == nil {
			continue
		}
		cp := fasthttp.AcquireRequest()
		req.CopyTo(cp)
		go func() {
			resp := fasthttp.AcquireResponse()
			u.hc.DoTimeout(cp, resp, m.Opts.ResponseTimeout)
			fasthttp.ReleaseResponse(resp)
			fasthttp.ReleaseRequest(cp)
		}()
	}
}
