package proxy

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/ingress/proxy/h1"
)

// memConn is a net.Conn reading from a byte slice in reads of at most
// step bytes.
type memConn struct {
	net.Conn
	in   []byte
	step int
}

func (c *memConn) Read(b []byte) (int, error) {
	if len(c.in) == 0 {
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), c.step)], c.in)
	c.in = c.in[n:]
	return n, nil
}

func (c *memConn) SetReadDeadline(time.Time) error { return nil }
func (c *memConn) SetDeadline(time.Time) error     { return nil }

// FuzzGuard feeds arbitrary bytes, in reads of arbitrary size, through
// the guard of the fasthttp engine: it never panics, never hands out
// bytes that were not sent (but for the stand-in of a refused head and a
// collapsed Content-Length), and how the input is split across reads
// does not change what comes out.
func FuzzGuard(f *testing.F) {
	f.Add([]byte(chunkedHead+"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 3)
	f.Add([]byte("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi"), 1)
	f.Add([]byte(chunkedHead+"10000000000000000\r\n"), 7)
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n\x00\x01"), 2)
	f.Fuzz(func(t *testing.T, in []byte, step int) {
		run := func(step int) ([]byte, int) {
			g := &h1Guard{Conn: &memConn{in: in, step: step}, lim: h1.Limits{Head: 2048, Line: 512}}
			var out bytes.Buffer
			buf := make([]byte, 97)
			for range 10000 {
				n, err := g.Read(buf)
				out.Write(buf[:n])
				if err != nil {
					break
				}
			}
			return out.Bytes(), g.reject
		}
		step = 1 + int(uint(step)%64)
		whole, reject := run(len(in) + 1)
		split, reject2 := run(step)
		if !bytes.Equal(whole, split) || reject != reject2 {
			t.Fatalf("reads of %d bytes: %q (reject %d); all at once: %q (reject %d)", step, split, reject2, whole, reject)
		}
		if reject != 0 {
			if !bytes.HasSuffix(whole, rejectHead) {
				t.Fatalf("refused (%d) without the stand-in: %q", reject, whole)
			}
			whole = whole[:len(whole)-len(rejectHead)]
		}
		if !bytes.Contains(bytes.ToLower(in), []byte("content-length")) && !bytes.HasPrefix(in, whole) {
			t.Fatalf("handed out %q, not a prefix of %q", whole, in)
		}
	})
}
