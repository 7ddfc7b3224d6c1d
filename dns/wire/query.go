package wire

import (
	"encoding/binary"
	"errors"
)

// Header and record constants used on the fast path.
const (
	HeaderLen = 12
	// MaxUDP is the answer size without EDNS0 (RFC 1035).
	MaxUDP = 512
	// ServerUDPSize is the EDNS0 payload size this server advertises and
	// the largest UDP answer it sends (the DNS Flag Day 2020 figure).
	ServerUDPSize = 1232
	// MaxKey bounds a name key: 255 wire bytes give at most 254
	// presentation characters plus the root dot.
	MaxKey = 256

	TypeOPT  = 41
	TypeAXFR = 252
	TypeIXFR = 251
	ClassIN  = 1
)

// Errors of Parse: callers drop the packet on ErrDrop, answer FORMERR on
// ErrFormat and hand the packet to the general (miekg/dns) path on
// ErrUnusual.
var (
	ErrDrop    = errors.New("not a query")
	ErrFormat  = errors.New("malformed query")
	ErrUnusual = errors.New("query needs the general path")
)

// Query is a parsed query. Name and Key alias the packet and the caller's
// key buffer.
type Query struct {
	ID     uint16
	Flags  uint16 // the query's flags word
	QType  uint16
	QClass uint16
	// QEnd is the offset just past the question.
	QEnd int
	// Key is the question name in lower case, presentation format with the
	// trailing dot ("web.default.svc.cluster.local.", "." for the root).
	Key []byte
	// Labels counts the name's labels.
	Labels int
	// Odd is set when a label holds a byte that presentation format would
	// escape ('.', '\\', space, control bytes): such a name cannot be any
	// of the server's own names, and Key is ambiguous for it.
	Odd bool
	// EDNS is set when the query carried an OPT record.
	EDNS    bool
	DO      bool
	Version uint8
	UDPSize uint16
}

// Opcode of the query.
func (q *Query) Opcode() int { return int(q.Flags>>11) & 0xF }

// MaxSize is the largest UDP answer the client accepts.
func (q *Query) MaxSize() int {
	if !q.EDNS {
		return MaxUDP
	}
	return int(min(max(q.UDPSize, MaxUDP), ServerUDPSize))
}

// Parse parses pkt into q, writing the name key into key (MaxKey bytes).
// It never panics on any input.
func Parse(pkt []byte, q *Query, key []byte) error {
	if len(pkt) < HeaderLen {
		return ErrDrop
	}
	q.ID = binary.BigEndian.Uint16(pkt)
	q.Flags = binary.BigEndian.Uint16(pkt[2:])
	if q.Flags&0x8000 != 0 { // a response: never answer it (no loops)
		return ErrDrop
	}
	if q.Opcode() != 0 {
		return ErrUnusual
	}
	qd := binary.BigEndian.Uint16(pkt[4:])
	an := binary.BigEndian.Uint16(pkt[6:])
	ns := binary.BigEndian.Uint16(pkt[8:])
	ar := binary.BigEndian.Uint16(pkt[10:])
	if qd != 1 || an != 0 || ns != 0 {
		return ErrFormat
	}
	off, err := parseName(pkt, HeaderLen, q, key)
	if err != nil {
		return err
	}
	if off+4 > len(pkt) {
		return ErrFormat
	}
	q.QType = binary.BigEndian.Uint16(pkt[off:])
	q.QClass = binary.BigEndian.Uint16(pkt[off+2:])
	q.QEnd = off + 4
	q.EDNS, q.DO, q.Version, q.UDPSize = false, false, 0, 0
	return parseAdditional(pkt, q.QEnd, int(ar), q)
}

// parseName reads the question name (no compression pointers: a client
// has nothing to point to) into q.Key, lower-cased.
func parseName(pkt []byte, off int, q *Query, key []byte) (int, error) {
	n, labels, odd := 0, 0, false
	for {
		if off >= len(pkt) {
			return 0, ErrFormat
		}
		l := int(pkt[off])
		off++
		if l == 0 {
			break
		}
		if l&0xC0 != 0 {
			if l&0xC0 == 0xC0 {
				return 0, ErrUnusual // a pointer in a question: let miekg/dns judge
			}
			return 0, ErrFormat
		}
		if off+l > len(pkt) || n+l+1 > MaxKey-1 {
			return 0, ErrFormat
		}
		for _, c := range pkt[off : off+l] {
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c == '.' || c == '\\' || c <= ' ' || c >= 0x7F:
				odd = true
			}
			key[n] = c
			n++
		}
		key[n] = '.'
		n++
		labels++
		off += l
	}
	if n == 0 {
		key[0] = '.'
		n = 1
	}
	q.Key, q.Labels, q.Odd = key[:n], labels, odd
	return off, nil
}

// parseAdditional walks the additional section for the OPT record. Other
// records (a TSIG this server does not verify) are skipped.
func parseAdditional(pkt []byte, off, count int, q *Query) error {
	for range count {
		start := off
		var err error
		if off, err = skipName(pkt, off); err != nil {
			return err
		}
		if off+10 > len(pkt) {
			return ErrFormat
		}
		typ := binary.BigEndian.Uint16(pkt[off:])
		class := binary.BigEndian.Uint16(pkt[off+2:])
		ttl := binary.BigEndian.Uint32(pkt[off+4:])
		rdlen := int(binary.BigEndian.Uint16(pkt[off+8:]))
		off += 10 + rdlen
		if off > len(pkt) {
			return ErrFormat
		}
		if typ != TypeOPT {
			continue
		}
		if q.EDNS || off-rdlen-10 != start+1 { // two OPTs, or an OPT not owned by the root
			return ErrFormat
		}
		q.EDNS, q.UDPSize = true, class
		q.Version = uint8(ttl >> 16)
		q.DO = ttl&0x8000 != 0
	}
	return nil // trailing bytes are ignored, as most servers do
}

// skipName steps over a possibly compressed name.
func skipName(pkt []byte, off int) (int, error) {
	for {
		if off >= len(pkt) {
			return 0, ErrFormat
		}
		l := int(pkt[off])
		switch {
		case l == 0:
			return off + 1, nil
		case l&0xC0 == 0xC0:
			if off+2 > len(pkt) {
				return 0, ErrFormat
			}
			return off + 2, nil
		case l&0xC0 != 0:
			return 0, ErrFormat
		}
		off += 1 + l
	}
}

// TTLOffsets returns the offsets of the TTL fields of the count records
// packed in body (as they follow the question in a message).
func TTLOffsets(body []byte, count int) ([]uint16, error) {
	offs := make([]uint16, 0, count)
	off := 0
	for range count {
		var err error
		if off, err = skipName(body, off); err != nil {
			return nil, err
		}
		if off+10 > len(body) {
			return nil, ErrFormat
		}
		offs = append(offs, uint16(off+4))
		off += 10 + int(binary.BigEndian.Uint16(body[off+8:]))
	}
	if off != len(body) {
		return nil, ErrFormat
	}
	return offs, nil
}
