package h1

import (
	"bytes"
	"errors"
)

// Errors a head can fail with. ErrHeadTooLarge is also returned when the
// buffer is full and the head has not ended.
var (
	ErrMalformed        = errors.New("malformed HTTP head")
	ErrHeadTooLarge     = errors.New("HTTP head too large")
	ErrTooManyHeaders   = errors.New("too many header fields")
	ErrContentLength    = errors.New("invalid Content-Length")
	ErrTransferEncoding = errors.New("unsupported Transfer-Encoding")
	ErrBothLengths      = errors.New("both Content-Length and Transfer-Encoding")
	ErrVersion          = errors.New("unsupported HTTP version")
	// ErrLineTooLong is a request line longer than Limits.Line (414).
	ErrLineTooLong = errors.New("request line too long")
	// ErrFieldTooLong is a header field line longer than Limits.Line.
	ErrFieldTooLong = errors.New("header field too long")
)

// Limits bound a request head, as nginx's large_client_header_buffers
// (4 8k: the request line and each field line must fit one 8 KiB buffer,
// the whole head four of them).
type Limits struct {
	// Head bounds the whole head including the empty line.
	Head int
	// Line bounds the request line and each field line, without CRLF
	// (0: no bound of its own).
	Line int
}

// Field is one header field; both slices point into the parsed buffer.
type Field struct{ Name, Value []byte }

// MaxFields bounds the fields of one head.
const MaxFields = 128

// Common holds what requests and responses share.
type Common struct {
	// Minor is the HTTP/1.x minor version (0 or 1).
	Minor int
	// Fields are all header fields in order.
	Fields []Field
	// ContentLength is the Content-Length value, -1 when absent.
	ContentLength int64
	// Chunked is true for "Transfer-Encoding: chunked".
	Chunked bool
	// TransferEncoding is true when any Transfer-Encoding was present.
	TransferEncoding bool
	// Close and KeepAlive report the Connection tokens; Upgrade the
	// "upgrade" token.
	Close, KeepAlive, Upgrade bool
	// HeadLen is the length of the head including the empty line.
	HeadLen int
}

// KeepsAlive reports whether the connection stays open after this
// message by the version's default and the Connection header.
func (c *Common) KeepsAlive() bool {
	if c.Minor == 0 {
		return c.KeepAlive && !c.Close
	}
	return !c.Close
}

// Request is a parsed request head.
type Request struct {
	Common
	Method []byte
	// Target is the request-target as sent; Path is its part before '?'.
	Target, Path []byte
	// Host is the Host header (the first one), nil when absent.
	Host []byte
	// Expect is true when an Expect header is present.
	Expect bool
}

// Response is a parsed response head.
type Response struct {
	Common
	Status int
	// Reason is the reason phrase (may be empty).
	Reason []byte
}

// ParseRequest parses the request head at the start of buf into r. It
// returns the head's length, or 0 and no error when buf holds only part
// of a head (read more); a head that has not ended within max bytes is
// ErrHeadTooLarge.
func ParseRequest(buf []byte, max int, r *Request) (int, error) {
	return ParseRequestLimits(buf, Limits{Head: max}, r)
}

// ParseRequestLimits is [ParseRequest] with a bound on each line as
// well: a request line beyond lim.Line is ErrLineTooLong (nginx's 414),
// a field line beyond it ErrFieldTooLong, both found as soon as the
// line is that long, before the head ends.
func ParseRequestLimits(buf []byte, lim Limits, r *Request) (int, error) {
	end, err := headEnd(buf, lim.Head)
	if err == nil && end == 0 && lim.Line > 0 {
		err = partialLineTooLong(buf, lim.Line)
	}
	if end == 0 || err != nil {
		if err == ErrHeadTooLarge && lim.Line > 0 {
			// Say which line made it too large when one is.
			if e := partialLineTooLong(buf, lim.Line); e != nil {
				err = e
			}
		}
		return 0, err
	}
	line, rest := cutLine(buf[:end])
	if lim.Line > 0 && len(line) > lim.Line {
		return 0, ErrLineTooLong
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return 0, ErrMalformed
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return 0, ErrMalformed
	}
	sp2 += sp1 + 1
	r.Method, r.Target = line[:sp1], line[sp1+1:sp2]
	if !isToken(r.Method) || !validTarget(r.Target) {
		return 0, ErrMalformed
	}
	if r.Minor, err = version(line[sp2+1:]); err != nil {
		return 0, err
	}
	r.Path = r.Target
	if i := bytes.IndexByte(r.Target, '?'); i >= 0 {
		r.Path = r.Target[:i]
	}
	r.Host, r.Expect = nil, false
	if err := parseFields(rest, lim.Line, &r.Common, func(f Field) error {
		switch {
		case EqualFold(f.Name, "host"):
			if r.Host != nil {
				return ErrMalformed // RFC 9112 3.2: more than one Host is a 400
			}
			r.Host = f.Value
		case EqualFold(f.Name, "expect"):
			r.Expect = true
		}
		return nil
	}); err != nil {
		return 0, err
	}
	if r.TransferEncoding && r.ContentLength >= 0 {
		return 0, ErrBothLengths
	}
	if r.Minor == 1 && r.Host == nil {
		return 0, ErrMalformed // RFC 9112 3.2: HTTP/1.1 requires Host
	}
	r.HeadLen = end
	return end, nil
}

// ParseResponse parses the response head at the start of buf into r, with
// the same results as [ParseRequest].
func ParseResponse(buf []byte, max int, r *Response) (int, error) {
	end, err := headEnd(buf, max)
	if end == 0 || err != nil {
		return 0, err
	}
	line, rest := cutLine(buf[:end])
	if len(line) < 12 || line[8] != ' ' {
		return 0, ErrMalformed
	}
	if r.Minor, err = version(line[:8]); err != nil {
		return 0, err
	}
	code := line[9:12]
	if !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) || code[0] == '0' {
		return 0, ErrMalformed
	}
	r.Status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	r.Reason = nil
	if len(line) > 12 {
		if line[12] != ' ' {
			return 0, ErrMalformed
		}
		r.Reason = line[13:]
	}
	if err := parseFields(rest, 0, &r.Common, nil); err != nil {
		return 0, err
	}
	if r.TransferEncoding {
		// RFC 9112 6.3: Transfer-Encoding overrides Content-Length.
		r.ContentLength = -1
	}
	r.HeadLen = end
	return end, nil
}

// partialLineTooLong checks the lines of a head that has not ended, the
// one being received included: the first is the request line.
func partialLineTooLong(buf []byte, max int) error {
	first := true
	for len(buf) > 0 {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			i = len(buf)
		}
		if i > max+1 { // +1: the line's CR
			if first {
				return ErrLineTooLong
			}
			return ErrFieldTooLong
		}
		first = false
		buf = buf[min(i+1, len(buf)):]
	}
	return nil
}

// headEnd returns the length of the head through its empty line, 0 when
// it has not ended yet.
func headEnd(buf []byte, max int) (int, error) {
	// Tolerate the empty lines RFC 9112 2.2 allows before a request line?
	// No: a keep-alive peer that sends them is broken; refuse.
	i := bytes.Index(buf, crlfcrlf)
	if i < 0 {
		if len(buf) >= max {
			return 0, ErrHeadTooLarge
		}
		return 0, nil
	}
	if i+4 > max {
		return 0, ErrHeadTooLarge
	}
	return i + 4, nil
}

var crlfcrlf = []byte("\r\n\r\n")

// cutLine splits off the first CRLF-terminated line.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.Index(b, crlf)
	return b[:i], b[i+2:]
}

var crlf = []byte("\r\n")

func version(b []byte) (int, error) {
	if len(b) != 8 || string(b[:7]) != "HTTP/1." {
		if len(b) == 8 && string(b[:5]) == "HTTP/" {
			return 0, ErrVersion
		}
		return 0, ErrMalformed
	}
	switch b[7] {
	case '0':
		return 0, nil
	case '1':
		return 1, nil
	}
	return 0, ErrVersion
}

// parseFields parses the header lines of a head (ending in the empty
// line) into c, calling extra for each field first. Lines longer than
// maxLine (> 0) are ErrFieldTooLong.
func parseFields(b []byte, maxLine int, c *Common, extra func(Field) error) error {
	c.Fields = c.Fields[:0]
	c.ContentLength = -1
	c.Chunked, c.TransferEncoding, c.Close, c.KeepAlive, c.Upgrade = false, false, false, false, false
	for {
		line, rest := cutLine(b)
		if len(line) == 0 {
			return nil
		}
		b = rest
		if maxLine > 0 && len(line) > maxLine {
			return ErrFieldTooLong
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(line[:colon]) {
			return ErrMalformed // also obs-fold (leading SP) and "Name :"
		}
		f := Field{Name: line[:colon], Value: trimOWS(line[colon+1:])}
		if !validValue(f.Value) {
			return ErrMalformed
		}
		if len(c.Fields) == MaxFields {
			return ErrTooManyHeaders
		}
		c.Fields = append(c.Fields, f)
		if extra != nil {
			if err := extra(f); err != nil {
				return err
			}
		}
		switch {
		case EqualFold(f.Name, "content-length"):
			n, ok := parseLength(f.Value)
			if !ok || (c.ContentLength >= 0 && c.ContentLength != n) {
				return ErrContentLength
			}
			c.ContentLength = n
		case EqualFold(f.Name, "transfer-encoding"):
			if c.TransferEncoding || !EqualFold(f.Value, "chunked") {
				return ErrTransferEncoding
			}
			c.TransferEncoding, c.Chunked = true, true
		case EqualFold(f.Name, "connection"):
			connectionTokens(f.Value, c)
		}
	}
}

func connectionTokens(v []byte, c *Common) {
	ListTokens(v, func(tok []byte) {
		switch {
		case EqualFold(tok, "close"):
			c.Close = true
		case EqualFold(tok, "keep-alive"):
			c.KeepAlive = true
		case EqualFold(tok, "upgrade"):
			c.Upgrade = true
		}
	})
}

// ListTokens calls fn for each non-empty element of a comma-separated
// field value (RFC 9110 5.6.1), optional whitespace trimmed.
func ListTokens(v []byte, fn func(tok []byte)) {
	for len(v) > 0 {
		var tok []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			tok, v = v, nil
		}
		if tok = trimOWS(tok); len(tok) > 0 {
			fn(tok)
		}
	}
}

// ConnectionNames calls fn for each token of the Connection fields of c
// (the header names a sender declared hop-by-hop, RFC 9110 7.6.1).
func (c *Common) ConnectionNames(fn func(name []byte)) {
	for _, f := range c.Fields {
		if EqualFold(f.Name, "connection") {
			ListTokens(f.Value, fn)
		}
	}
}

func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, ch := range b {
		if !isDigit(ch) {
			return 0, false
		}
		n = n*10 + int64(ch-'0')
	}
	return n, true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// EqualFold reports whether b equals the lower-case ASCII s, ignoring
// case.
func EqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// tokenChars marks the tchar set of RFC 9110 5.6.2.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// validValue refuses control characters other than HTAB (bare CR and LF
// included).
func validValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validTarget refuses empty targets, control characters and spaces.
func validTarget(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
