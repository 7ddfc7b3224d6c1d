package wire

import "encoding/binary"

// Rcodes used by the server.
const (
	RcodeSuccess  = 0
	RcodeFormErr  = 1
	RcodeServFail = 2
	RcodeNXDomain = 3
	RcodeNotImp   = 4
	RcodeRefused  = 5
	RcodeBadVers  = 16 // extended: 0 in the header, 1 in the OPT record
)

// Body is the packed answer, authority and additional sections of an
// answer with their record counts, as they follow the question.
// TTLOffsets, when set, lists the offsets (in Data) of the TTL fields
// that [Answer] lowers by its elapsed argument (cached upstream answers).
type Body struct {
	Data       []byte
	An, Ns, Ar uint16
	TTLOffsets []uint16
}

// Answer appends to out[:0] the answer to the query q parsed from pkt:
// the header (ID and RD echoed, QR and RA set, AA as given, rcode), the
// question copied from pkt (so in the query's case), body, and an OPT
// record when the query had one. An answer longer than max is replaced by
// a truncated one (TC set, sections empty) so that the client retries
// over TCP. elapsed (seconds) is subtracted from body's TTLOffsets fields.
func Answer(out, pkt []byte, q *Query, rcode int, aa bool, body *Body, max int, elapsed uint32) []byte {
	out = out[:0]
	size := q.QEnd + len(body.Data)
	if q.EDNS {
		size += 11
	}
	tc := size > max
	// QR and RA set; opcode, RD and CD echoed.
	flags := 0x8000 | q.Flags&(0x7800|0x0100|0x0010) | 0x0080
	if aa {
		flags |= 0x0400
	}
	if tc {
		flags |= 0x0200
	}
	flags |= uint16(rcode & 0xF)
	out = binary.BigEndian.AppendUint16(out, q.ID)
	out = binary.BigEndian.AppendUint16(out, flags)
	out = binary.BigEndian.AppendUint16(out, 1)
	ar := uint16(0)
	if q.EDNS {
		ar = 1
	}
	if tc {
		out = append(out, 0, 0, 0, 0)
		out = binary.BigEndian.AppendUint16(out, ar)
		out = append(out, pkt[HeaderLen:q.QEnd]...)
	} else {
		out = binary.BigEndian.AppendUint16(out, body.An)
		out = binary.BigEndian.AppendUint16(out, body.Ns)
		out = binary.BigEndian.AppendUint16(out, body.Ar+ar)
		out = append(out, pkt[HeaderLen:q.QEnd]...)
		start := len(out)
		out = append(out, body.Data...)
		if elapsed > 0 {
			for _, o := range body.TTLOffsets {
				p := out[start+int(o):]
				ttl := binary.BigEndian.Uint32(p)
				binary.BigEndian.PutUint32(p, ttl-min(ttl, elapsed))
			}
		}
	}
	if q.EDNS {
		out = AppendOPT(out, rcode, q.DO)
	}
	return out
}

// AppendOPT appends this server's OPT record: payload size, the extended
// rcode bits and the DO bit echoed.
func AppendOPT(out []byte, rcode int, do bool) []byte {
	out = append(out, 0, 0, TypeOPT)
	out = binary.BigEndian.AppendUint16(out, ServerUDPSize)
	ttl := uint32(rcode>>4) << 24
	if do {
		ttl |= 0x8000
	}
	out = binary.BigEndian.AppendUint32(out, ttl)
	return append(out, 0, 0)
}

// Error appends to out[:0] an answer with rcode and no records for the
// query q parsed from pkt (question echoed, OPT kept).
func Error(out, pkt []byte, q *Query, rcode int) []byte {
	return Answer(out, pkt, q, rcode, false, &Body{}, 1<<16, 0)
}

// FormErr appends to out[:0] a FORMERR answer to pkt, echoing only its ID
// and opcode (the rest may be garbage). pkt must hold a header.
func FormErr(out, pkt []byte) []byte {
	out = out[:0]
	out = append(out, pkt[0], pkt[1])
	flags := 0x8000 | binary.BigEndian.Uint16(pkt[2:])&(0x7800|0x0100) | RcodeFormErr
	out = binary.BigEndian.AppendUint16(out, flags)
	return append(out, 0, 0, 0, 0, 0, 0, 0, 0)
}
