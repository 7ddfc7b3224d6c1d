package proxy

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-net/switchyard/ingress/router"
)

// TestProxyH2CBackendWithTrailers is the gRPC shape: an h2 client over TLS,
// an h2c backend (backend-protocol H2C), a streamed body and trailers.
func TestProxyH2CBackendWithTrailers(t *testing.T) {
	tp := startProxy(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status")
		w.Write([]byte(r.Proto + " " + string(b)))
		w.Header().Set("Grpc-Status", "0")
	})
	srv := &http.Server{Handler: h, Protocols: new(http.Protocols)}
	srv.Protocols.SetUnencryptedHTTP2(true)
	backendAddr := serveServer(t, srv)
	p := tp.p
	p.SetTable(router.Compile([]router.Rule[*Backend]{
		{Host: "grpc.test", Path: "/", Target: p.NewBackend("d/i", "d/g:50051", []string{backendAddr}, Options{Protocol: H2C})},
	}, nil))
	c := &http.Client{Transport: &http.Transport{ForceAttemptHTTP2: true,
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "grpc.test"}}}
	req, _ := http.NewRequest("POST", "https://"+tp.https+"/pkg.Service/Method", strings.NewReader("ping"))
	req.Host = "grpc.test"
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || string(body) != "HTTP/2.0 ping" || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Errorf("%s %d %q trailer %v", resp.Proto, resp.StatusCode, body, resp.Trailer)
	}
}
