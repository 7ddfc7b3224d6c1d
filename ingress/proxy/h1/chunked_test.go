package h1

import (
	"bytes"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

func TestChunkedScanner(t *testing.T) {
	tests := []struct {
		in   string
		body int // length of the body; -1 when unfinished
		err  bool
	}{
		{in: "0\r\n\r\n", body: 5},
		{in: "5\r\nhello\r\n0\r\n\r\nGET /next", body: 15},
		{in: "5;ext=1\r\nhello\r\n0\r\nTrailer: x\r\n\r\n", body: 33},
		{in: "A\r\n0123456789\r\n0\r\n\r\n", body: 20},
		{in: "5\r\nhel", body: -1},
		{in: "5\r\nhelloX\r\n", err: true},
		{in: "x\r\n", err: true},
		{in: "\r\n", err: true},
		{in: "fffffffffffffffff\r\n", err: true},
		{in: "10000000000000000\r\n", err: true},                    // 2^64
		{in: "8000000000000000\r\n", err: true},                     // 2^63
		{in: "7fffffffffffffff\r\n", body: -1},                      // 2^63-1: fine, data to come
		{in: "0000000000000000005\r\nhello\r\n0\r\n\r\n", body: 33}, // leading zeros
		{in: "5\nhello\r\n0\r\n\r\n", err: true},                    // bare LF
		{in: "5;" + strings.Repeat("e", MaxChunkLine+1) + "\r\n", err: true},
	}
	for _, tt := range tests {
		// Byte by byte and all at once must agree.
		for _, step := range []int{1, len(tt.in)} {
			var s ChunkedScanner
			total, done := 0, false
			var err error
			for p := []byte(tt.in); len(p) > 0 && !done && err == nil; {
				k := min(step, len(p))
				var n int
				n, done, err = s.Scan(p[:k])
				total += n
				p = p[n:]
				if !done && err == nil && n != k {
					t.Fatalf("%q: consumed %d of %d without ending", tt.in, n, k)
				}
			}
			switch {
			case tt.err:
				if err == nil {
					t.Errorf("%q step %d: no error", tt.in, step)
				}
			case err != nil:
				t.Errorf("%q step %d: %v", tt.in, step, err)
			case tt.body < 0 && done, tt.body >= 0 && (!done || total != tt.body):
				t.Errorf("%q step %d: done %v after %d, want %d", tt.in, step, done, total, tt.body)
			}
		}
	}
}

// FuzzChunkedScanner checks that where a body ends does not depend on how
// the bytes are split across reads, and that net/http's chunked reader
// accepts the data of every body the scanner accepts.
func FuzzChunkedScanner(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), 3)
	f.Add([]byte("1;a=b\r\nx\r\n0\r\nT: v\r\n\r\n"), 7)
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		var whole ChunkedScanner
		n, done, err := whole.Scan(in)
		if n > len(in) {
			t.Fatalf("consumed %d of %d", n, len(in))
		}
		if len(in) > 0 {
			split = int(uint(split) % uint(len(in)))
		} else {
			split = 0
		}
		var parts ChunkedScanner
		n1, done1, err1 := parts.Scan(in[:split])
		if err1 == nil && !done1 {
			var n2 int
			n2, done1, err1 = parts.Scan(in[split:])
			n1 += n2
		}
		if (err == nil) != (err1 == nil) || done != done1 || (err == nil && n != n1) {
			t.Fatalf("whole: %d %v %v; split at %d: %d %v %v", n, done, err, split, n1, done1, err1)
		}
		if err != nil || !done {
			return
		}
		if _, herr := io.Copy(io.Discard, httputil.NewChunkedReader(bytes.NewReader(in[:n]))); herr != nil {
			t.Fatalf("net/http refuses a body the scanner accepted: %v", herr)
		}
	})
}
