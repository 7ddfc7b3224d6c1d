package h1

import "errors"

// ErrChunked is a malformed chunked body.
var ErrChunked = errors.New("malformed chunked body")

// ChunkedScanner follows a chunked body (RFC 9112 section 7.1) byte by
// byte without copying it, so a proxy can relay the body verbatim and
// know where the message ends. The zero value is ready for a new body.
type ChunkedScanner struct {
	state   chunkState
	size    int64 // bytes of chunk data still to come
	digits  int
	lineLen int // bytes of the current extension or trailer line
}

type chunkState uint8

const (
	chunkSize      chunkState = iota // hex digits of a chunk size
	chunkSizeWS                      // whitespace after the size
	chunkExt                         // chunk extensions up to CR
	chunkSizeLF                      // LF after the size line
	chunkData                        // size bytes of data
	chunkDataCR                      // CR after data
	chunkDataLF                      // LF after data
	chunkTrailer                     // start of a trailer line or the final CRLF
	chunkTrailerLn                   // inside a trailer line
	chunkTrailerLF                   // LF ending a trailer line
	chunkEndLF                       // LF of the final CRLF
	chunkDone
)

// MaxChunkLine bounds chunk extensions and trailer lines.
const MaxChunkLine = 4096

// maxChunkSize is the largest chunk size accepted (nginx's limit is the
// largest off_t as well).
const maxChunkSize = 1<<63 - 1

// Scan consumes p and returns how many bytes belong to the body; done is
// true when the body ended within p (bytes after n belong to the next
// message).
func (s *ChunkedScanner) Scan(p []byte) (n int, done bool, err error) {
	for n < len(p) {
		c := p[n]
		switch s.state {
		case chunkSize:
			v, ok := hexVal(c)
			switch {
			case ok:
				// Leading zeros are fine; a size that does not fit in
				// 63 bits is not (2^64 and beyond wrap in naive parsers).
				if s.size > maxChunkSize>>4 {
					return n, false, ErrChunked
				}
				s.size = s.size<<4 | int64(v)
				s.digits++
			case s.digits > 0 && (c == ' ' || c == '\t'):
				s.state = chunkSizeWS
			case s.digits > 0 && c == ';':
				s.state, s.lineLen = chunkExt, 0
			case s.digits > 0 && c == '\r':
				s.state = chunkSizeLF
			default:
				return n, false, ErrChunked
			}
		case chunkSizeWS:
			switch c {
			case ' ', '\t':
			case '\r':
				// As strict as net/http: no whitespace before ';'.
				s.state = chunkSizeLF
			default:
				return n, false, ErrChunked
			}
		case chunkExt:
			switch {
			case c == '\r':
				s.state = chunkSizeLF
			case c == '\n' || s.lineLen >= MaxChunkLine:
				return n, false, ErrChunked
			default:
				s.lineLen++
			}
		case chunkSizeLF:
			if c != '\n' {
				return n, false, ErrChunked
			}
			s.digits = 0
			if s.size == 0 {
				s.state = chunkTrailer
			} else {
				s.state = chunkData
			}
		case chunkData:
			k := int64(len(p) - n)
			if k > s.size {
				k = s.size
			}
			n += int(k)
			s.size -= k
			if s.size == 0 {
				s.state = chunkDataCR
			}
			continue
		case chunkDataCR:
			if c != '\r' {
				return n, false, ErrChunked
			}
			s.state = chunkDataLF
		case chunkDataLF:
			if c != '\n' {
				return n, false, ErrChunked
			}
			s.state = chunkSize
		case chunkTrailer:
			if c == '\r' {
				s.state = chunkEndLF
			} else if c == '\n' {
				return n, false, ErrChunked
			} else {
				s.state, s.lineLen = chunkTrailerLn, 1
			}
		case chunkTrailerLn:
			switch {
			case c == '\r':
				s.state = chunkTrailerLF
			case c == '\n' || s.lineLen >= MaxChunkLine:
				return n, false, ErrChunked
			default:
				s.lineLen++
			}
		case chunkTrailerLF:
			if c != '\n' {
				return n, false, ErrChunked
			}
			s.state = chunkTrailer
		case chunkEndLF:
			if c != '\n' {
				return n, false, ErrChunked
			}
			s.state = chunkDone
			return n + 1, true, nil
		case chunkDone:
			return n, true, nil
		}
		n++
	}
	return n, s.state == chunkDone, nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
