package netexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAgnhostHandler(t *testing.T) {
	a := newAgnhost(AgnhostConfig{Hostname: "pod-a", UDPPort: -1})
	srv := httptest.NewServer(a.handler())
	defer srv.Close()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "at "+r.URL.Path) }))
	defer backend.Close()
	bHost, bPort, _ := net.SplitHostPort(strings.TrimPrefix(backend.URL, "http://"))
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadPort := dead.Addr().(*net.TCPAddr).Port
	dead.Close()

	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/hostname", 200, "pod-a"},
		{"/hostName", 200, "pod-a"},
		{"/", 200, "NOW: "},
		{"/echo?msg=hi%21", 200, "hi!"},
		{"/echo?msg=gone&code=410", 410, "gone"},
		{"/header?key=User-Agent", 200, "Go-http-client/1.1"},
		{"/healthz", 200, ""},
		{"/readyz", 200, "ok"},
		{"/dial?request=x", 200, `{"errors":[`},
		{"/dial?host=" + bHost + "&port=" + bPort, 400, "request parameter not specified"},
		{"/dial?request=hostname&host=" + bHost + "&port=" + bPort + "&protocol=sctp", 400, "unsupported protocol"},
		{"/dial?request=hostname&host=" + bHost + "&port=" + bPort + "&tries=x", 400, "tries parameter is invalid"},
		{"/dial?request=hostname&host=" + bHost + "&port=" + bPort + "&tries=2", 200, `{"responses":["at /hostname","at /hostname"]}`},
		{fmt.Sprintf("/dial?request=hostname&host=127.0.0.1&port=%d", deadPort), 200, `{"errors":["Get \"http://127.0.0.1:`},
		{"/shell?cmd=echo%20hi", 200, `{"output":"hi\n"}`},
		{"/exit?code=200", 200, "argument 'code' must be an integer [0-127]"},
	} {
		code, body := getBody(t, srv.URL+tc.path)
		if code != tc.code || !strings.HasPrefix(body, tc.body) {
			t.Errorf("GET %s: %d %q, want %d starting %q", tc.path, code, body, tc.code, tc.body)
		}
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(srv.URL + "/redirect?location=/echo%3Fmsg%3Dx&code=307")
	if err != nil || resp.StatusCode != 307 || resp.Header.Get("Location") != "/echo?msg=x" {
		t.Errorf("/redirect: %v %v", resp, err)
	}
	a.terminate.Store(true)
	if code, body := getBody(t, srv.URL+"/readyz"); code != 503 || body != "shutting down" {
		t.Errorf("/readyz after SIGTERM: %d %q", code, body)
	}
}

// TestRunAgnhostNetexec: UDP answers, /clientip, and /exit?code=N ends Run
// with that code.
func TestRunAgnhostNetexec(t *testing.T) {
	port := func(network string) int {
		if network == "udp" {
			c, _ := net.ListenPacket("udp", "127.0.0.1:0")
			defer c.Close()
			return c.LocalAddr().(*net.UDPAddr).Port
		}
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	cfg := AgnhostConfig{HTTPPort: port("tcp"), UDPPort: port("udp"), Hostname: "h1", UDPAddrs: []string{"127.0.0.1"}}
	done := make(chan error, 1)
	go func() { done <- RunAgnhostNetexec(context.Background(), cfg) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", cfg.HTTPPort)
	var body string
	for range 50 {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	_, body = getBody(t, fmt.Sprintf("%s/dial?request=echo%%20pong&protocol=udp&host=127.0.0.1&port=%d", base, cfg.UDPPort))
	if body != `{"responses":["pong"]}` {
		t.Errorf("UDP echo through /dial: %s", body)
	}
	if _, body = getBody(t, base+"/clientip"); !strings.HasPrefix(body, "127.0.0.1:") {
		t.Errorf("/clientip %q", body)
	}
	go http.Get(base + "/exit?code=7&timeout=1s")
	select {
	case err := <-done:
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != 7 {
			t.Fatalf("Run returned %v, want exit code 7", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("/exit did not end the server")
	}
}

func TestRunServeHostname(t *testing.T) {
	if err := RunServeHostname(context.Background(), ServeHostnameConfig{HTTP: true, UDP: true}); err == nil {
		t.Error("--http with --udp accepted")
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunServeHostname(ctx, ServeHostnameConfig{Port: p, TCP: true, UDP: true, Hostname: "sh-1"})
	}()
	var got string
	for range 50 {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			b, _ := io.ReadAll(c)
			c.Close()
			got = string(b)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got != "sh-1" {
		t.Errorf("TCP answered %q", got)
	}
	u, _ := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", p))
	u.Write([]byte("x"))
	u.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 64)
	k, err := u.Read(buf)
	if err != nil || string(buf[:k]) != "sh-1" {
		t.Errorf("UDP answered %q, %v", buf[:k], err)
	}
	u.Close()
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}
