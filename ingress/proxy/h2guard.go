package proxy

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"

	"golang.org/x/net/http2/hpack"
)

// HTTP/2 connections are served by golang.org/x/net/http2, which departs
// from RFC 9113 in two places h2spec checks (cases http2/6.5.3/1 and
// http2/8.1.2.2/1-2):
//
//   - A SETTINGS frame that lists a setting twice is a connection error
//     for it ("suspicious"); the RFC says the values are processed in
//     order, the last one winning.
//   - A request carrying a connection-specific field (Connection,
//     Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, or TE
//     other than "trailers") is answered 400 and reaches no handler; the
//     RFC (8.2.2) makes it malformed: a stream error PROTOCOL_ERROR,
//     RST_STREAM, which tells the client its request was not processed.
//
// Rather than fork the server, h2Guard sits under it on the connection
// and rewrites the client's frames so that the server does the right
// thing: duplicate settings are folded into one entry each (the last
// value), and the header block of a malformed request gets one more
// CONTINUATION frame holding a field with an upper-case name, which the
// server's framer refuses with exactly that stream error (RFC 9113
// 8.2.1: upper-case names are malformed). The field is a literal
// "without indexing" so the server's HPACK table is left as the client
// expects. To see field names through HPACK the guard runs a decoder of
// its own fed with the same blocks, in the same order, with the same
// table size. On anything it does not understand (a frame larger than
// the advertised maximum, an HPACK error, a PUSH_PROMISE from a client)
// it stops looking and passes bytes through: the server's own checks
// then end the connection.
//
// The third h2spec failure, http2/4.2/3, is configuration: the server
// advertised SETTINGS_MAX_FRAME_SIZE 1 MiB, so a 20 KB HEADERS frame was
// legal; the proxy advertises the protocol's default, 16 KiB.

const (
	h2MaxFrame       = 16 << 10 // SETTINGS_MAX_FRAME_SIZE the proxy advertises
	h2HeaderTable    = 4096     // the server's HPACK decoder table size (the default)
	h2MaxHeaderBlock = 1 << 20  // beyond this the guard stops decoding a block

	frameData         = 0x0
	frameHeaders      = 0x1
	frameSettings     = 0x4
	framePushPromise  = 0x5
	frameContinuation = 0x9

	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20
	flagAck        = 0x1
)

// h2Preface is what an HTTP/2 client sends first.
const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// poisonField is the HPACK literal without indexing, new name, of a
// field named "X-Malformed" with an empty value.
var poisonField = append(append([]byte{0x00, byte(len("X-Malformed"))}, "X-Malformed"...), 0x00)

// h2Guard is a server-side HTTP/2 connection seen through the checks
// above. Only the server's reader goroutine reads it.
type h2Guard struct {
	net.Conn
	br          *bufio.Reader
	out         []byte // rewritten bytes to hand out
	raw         int    // payload bytes of the current frame to pass as they are
	preface     int    // preface bytes still to pass
	transparent bool
	dec         *hpack.Decoder
	malformed   bool // the header block being read has a connection-specific field
	blockBytes  int
}

func newH2Guard(c net.Conn) *h2Guard {
	g := &h2Guard{Conn: c, br: bufio.NewReaderSize(c, 16<<10), preface: len(h2Preface)}
	g.dec = hpack.NewDecoder(h2HeaderTable, g.field)
	return g
}

// guardH2 wraps c for the HTTP/2 server, keeping a TLS connection's
// state visible to it (r.TLS, the TLS version and cipher checks).
func guardH2(c net.Conn) net.Conn {
	g := newH2Guard(c)
	if tc, ok := c.(*tls.Conn); ok {
		return &tlsH2Guard{g, tc}
	}
	return g
}

type tlsH2Guard struct {
	*h2Guard
	tc *tls.Conn
}

func (g *tlsH2Guard) ConnectionState() tls.ConnectionState { return g.tc.ConnectionState() }

// field checks one decoded field (RFC 9113 8.2.2).
func (g *h2Guard) field(f hpack.HeaderField) {
	switch f.Name {
	case "connection", "proxy-connection", "keep-alive", "transfer-encoding", "upgrade":
		g.malformed = true
	case "te":
		if f.Value != "trailers" {
			g.malformed = true
		}
	}
}

func (g *h2Guard) Read(b []byte) (int, error) {
	for {
		switch {
		case len(g.out) > 0:
			n := copy(b, g.out)
			g.out = g.out[n:]
			return n, nil
		case g.transparent:
			return g.br.Read(b)
		case g.preface > 0:
			n, err := g.br.Read(b[:min(len(b), g.preface)])
			g.preface -= n
			return n, err
		case g.raw > 0:
			n, err := g.br.Read(b[:min(len(b), g.raw)])
			g.raw -= n
			return n, err
		}
		if err := g.frame(); err != nil {
			return 0, err
		}
	}
}

// frame reads the next frame head and decides what to hand out.
func (g *h2Guard) frame() error {
	var hdr [9]byte
	if _, err := io.ReadFull(g.br, hdr[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			g.out = append(g.out[:0], hdr[:]...) // let the server see the short frame
			g.transparent = true
			return nil
		}
		return err
	}
	length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
	typ, flags := hdr[3], hdr[4]
	stream := binary.BigEndian.Uint32(hdr[5:]) & 0x7fffffff
	inspect := typ == frameHeaders || typ == frameContinuation || (typ == frameSettings && flags&flagAck == 0 && stream == 0)
	if length > h2MaxFrame || typ == framePushPromise {
		g.out = append(g.out[:0], hdr[:]...)
		g.transparent = true
		return nil
	}
	if !inspect {
		g.out = append(g.out[:0], hdr[:]...)
		g.raw = length
		return nil
	}
	payload := make([]byte, length)
	if _, err := io.ReadFull(g.br, payload); err != nil {
		g.out = append(append(g.out[:0], hdr[:]...), payload...)
		g.transparent = true
		return nil
	}
	switch typ {
	case frameSettings:
		payload = dedupeSettings(payload)
		putLength(hdr[:], len(payload))
		g.out = append(append(g.out[:0], hdr[:]...), payload...)
	default: // HEADERS, CONTINUATION
		g.out = append(append(g.out[:0], hdr[:]...), payload...)
		frag, ok := fragment(typ, flags, payload)
		if !ok {
			g.transparent = true // the server refuses the frame
			return nil
		}
		if typ == frameHeaders {
			g.malformed, g.blockBytes = false, 0
		}
		g.blockBytes += len(frag)
		if g.blockBytes > h2MaxHeaderBlock {
			g.transparent = true
			return nil
		}
		if _, err := g.dec.Write(frag); err != nil {
			g.transparent = true
			return nil
		}
		if flags&flagEndHeaders == 0 {
			return nil
		}
		if err := g.dec.Close(); err != nil {
			g.transparent = true
			return nil
		}
		if g.malformed {
			// Move END_HEADERS to a CONTINUATION that adds the field
			// the server refuses.
			g.out[4] &^= flagEndHeaders
			var c [9]byte
			putLength(c[:], len(poisonField))
			c[3], c[4] = frameContinuation, flagEndHeaders
			binary.BigEndian.PutUint32(c[5:], stream)
			g.out = append(append(g.out, c[:]...), poisonField...)
		}
	}
	return nil
}

// fragment is the header block fragment of a HEADERS (without padding
// and priority) or CONTINUATION payload; false when the frame is
// malformed.
func fragment(typ, flags byte, p []byte) ([]byte, bool) {
	if typ != frameHeaders {
		return p, true
	}
	pad := 0
	if flags&flagPadded != 0 {
		if len(p) < 1 {
			return nil, false
		}
		pad = int(p[0])
		p = p[1:]
	}
	if flags&flagPriority != 0 {
		if len(p) < 5 {
			return nil, false
		}
		p = p[5:]
	}
	if pad > len(p) {
		return nil, false
	}
	return p[:len(p)-pad], true
}

// dedupeSettings keeps the last value of each setting, in the order of
// the last occurrences (a payload that is not whole entries is left for
// the server to refuse).
func dedupeSettings(p []byte) []byte {
	if len(p)%6 != 0 || len(p) <= 6 || len(p) > 100*6 {
		return p // the server refuses more than 100 entries anyway
	}
	out := make([]byte, 0, len(p))
	for i := 0; i < len(p); i += 6 {
		id := p[i : i+2]
		later := false
		for j := i + 6; j < len(p); j += 6 {
			if p[j] == id[0] && p[j+1] == id[1] {
				later = true
				break
			}
		}
		if !later {
			out = append(out, p[i:i+6]...)
		}
	}
	return out
}

func putLength(hdr []byte, n int) {
	hdr[0], hdr[1], hdr[2] = byte(n>>16), byte(n>>8), byte(n)
}
