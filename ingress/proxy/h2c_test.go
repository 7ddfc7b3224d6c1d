package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cClient speaks HTTP/2 over cleartext TCP with prior knowledge.
func h2cClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

// TestH2CPriorKnowledge: with H2C on, an HTTP/2 client with prior
// knowledge is served on the HTTP address (the endpoint sees the
// forwarded request), while HTTP/1.1 keeps working on the same address;
// with H2C off (the default) the preface is refused.
func TestH2CPriorKnowledge(t *testing.T) {
	for _, on := range []bool{true, false} {
		tp := startProxyCfg(t, Config{H2C: on})
		route(tp, backend(t, "a"))
		resp, err := h2cClient().Get("http://" + tp.http + "/header?key=X-Forwarded-Proto")
		if !on {
			if err == nil {
				resp.Body.Close()
				t.Errorf("h2c off: HTTP/2 with prior knowledge answered %s %d", resp.Proto, resp.StatusCode)
			}
			continue
		}
		if err != nil {
			t.Fatalf("h2c prior knowledge: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.Contains(string(b), `"X-Forwarded-Proto":["http"]`) ||
			!strings.Contains(string(b), `"X-Forwarded-Port":["80"]`) {
			t.Errorf("h2c prior knowledge: %s %d %q", resp.Proto, resp.StatusCode, b)
		}
		r, body := get(t, &http.Client{}, "http://"+tp.http+"/hostname", "a")
		if r.StatusCode != 200 || body != "a" {
			t.Errorf("HTTP/1.1 beside h2c: %d %q", r.StatusCode, body)
		}
	}
}

// TestH2CUpgrade: an HTTP/1.1 request with Upgrade: h2c gets 101 and
// its response as stream 1 of the HTTP/2 connection that follows (RFC
// 7540 3.2); with H2C off it is answered over HTTP/1.1.
func TestH2CUpgrade(t *testing.T) {
	for _, on := range []bool{true, false} {
		tp := startProxyCfg(t, Config{H2C: on})
		route(tp, backend(t, "a"))
		c, err := net.Dial("tcp", tp.http)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		settings := base64.RawURLEncoding.EncodeToString([]byte{0, 3, 0, 0, 0, 100}) // MAX_CONCURRENT_STREAMS 100
		io.WriteString(c, "GET /hostname HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: "+settings+"\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !on {
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(b) != "a" {
				t.Errorf("h2c off: upgrade request answered %d %q, want 200 over HTTP/1.1", resp.StatusCode, b)
			}
			continue
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "h2c" {
			t.Fatalf("upgrade: %d %v", resp.StatusCode, resp.Header)
		}
		io.WriteString(c, http2.ClientPreface)
		fr := http2.NewFramer(c, br)
		fr.WriteSettings()
		status, body := "", []byte(nil)
		dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
			if f.Name == ":status" {
				status = f.Value
			}
		})
		for done := false; !done; {
			f, err := fr.ReadFrame()
			if err != nil {
				t.Fatalf("reading HTTP/2 frames: %v", err)
			}
			switch f := f.(type) {
			case *http2.SettingsFrame:
				if !f.IsAck() {
					fr.WriteSettingsAck()
				}
			case *http2.HeadersFrame:
				if f.StreamID != 1 {
					t.Fatalf("HEADERS on stream %d", f.StreamID)
				}
				dec.Write(f.HeaderBlockFragment())
				done = f.StreamEnded()
			case *http2.DataFrame:
				body = append(body, f.Data()...)
				done = f.StreamEnded()
			case *http2.GoAwayFrame:
				t.Fatalf("GOAWAY %v", f.ErrCode)
			}
		}
		if status != "200" || !bytes.Equal(body, []byte("a")) {
			t.Errorf("stream 1: status %q body %q", status, body)
		}
	}
}

// FuzzH2Guard feeds arbitrary frames through the HTTP/2 guard: it never
// panics, the preface and frames it does not rewrite pass unchanged, and
// the split of the input into reads does not change the output.
func FuzzH2Guard(f *testing.F) {
	var blk bytes.Buffer
	enc := hpack.NewEncoder(&blk)
	for _, hf := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":path", Value: "/"}, {Name: "connection", Value: "close"}} {
		enc.WriteField(hf)
	}
	var frames bytes.Buffer
	fr := http2.NewFramer(&frames, nil)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk.Bytes(), EndHeaders: true, EndStream: true})
	fr.WriteData(1, true, []byte("body"))
	f.Add(frames.Bytes(), 5)
	f.Fuzz(func(t *testing.T, in []byte, step int) {
		in = append([]byte(h2Preface), in...)
		run := func(step int) []byte {
			g := newH2Guard(&memConn{in: in, step: step})
			var out bytes.Buffer
			buf := make([]byte, 61)
			for range 100000 {
				n, err := g.Read(buf)
				out.Write(buf[:n])
				if err != nil {
					break
				}
			}
			return out.Bytes()
		}
		step = 1 + int(uint(step)%64)
		whole, split := run(len(in)), run(step)
		if !bytes.Equal(whole, split) {
			t.Fatalf("reads of %d: %q; whole: %q", step, split, whole)
		}
		if !bytes.HasPrefix(whole, []byte(h2Preface)) {
			t.Fatalf("preface changed: %q", whole)
		}
	})
}
