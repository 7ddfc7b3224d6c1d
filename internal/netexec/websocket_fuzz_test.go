package netexec

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzWebSocketFrames: any byte stream from a client ends the echo loop
// without a panic, and a well-formed masked frame is echoed unmasked.
func FuzzWebSocketFrames(f *testing.F) {
	f.Add([]byte{0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1})
	f.Add([]byte{0x88, 0x80, 0, 0, 0, 0})
	f.Add([]byte{0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x89, 0x7e, 0, 1})
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		wsEcho(bufio.NewReader(bytes.NewReader(in)), w)
		w.Flush()
		if out.Len() > len(in)+16*len(in) {
			t.Errorf("%d bytes in, %d out", len(in), out.Len())
		}
	})
}
