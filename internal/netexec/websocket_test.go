package netexec

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWebSocketEcho(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: NewHandler(Config{Hostname: "ws"}, nil)}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	c.Write([]byte("GET /websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	for _, msg := range []string{"hello", strings.Repeat("x", 300), strings.Repeat("y", 70000)} {
		var f bytes.Buffer
		f.WriteByte(0x81)
		mask := []byte{1, 2, 3, 4}
		switch n := len(msg); {
		case n < 126:
			f.WriteByte(0x80 | byte(n))
		case n <= 0xffff:
			f.Write([]byte{0x80 | 126, byte(n >> 8), byte(n)})
		default:
			f.Write([]byte{0x80 | 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		}
		f.Write(mask)
		for i := range len(msg) {
			f.WriteByte(msg[i] ^ mask[i%4])
		}
		c.Write(f.Bytes())
		hdr := make([]byte, 2)
		if _, err := br.Read(hdr[:1]); err != nil {
			t.Fatal(err)
		}
		br.Read(hdr[1:])
		n := int(hdr[1])
		switch n {
		case 126:
			b := make([]byte, 2)
			br.Read(b)
			n = int(b[0])<<8 | int(b[1])
		case 127:
			b := make([]byte, 8)
			for i := range b {
				b[i], _ = br.ReadByte()
			}
			n = int(b[4])<<24 | int(b[5])<<16 | int(b[6])<<8 | int(b[7])
		}
		got := make([]byte, n)
		for i := range got {
			got[i], _ = br.ReadByte()
		}
		if hdr[0] != 0x81 || string(got) != msg {
			t.Errorf("echo of %d bytes: op %#x, %d bytes back", len(msg), hdr[0], len(got))
		}
	}
}
