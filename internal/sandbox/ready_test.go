package sandbox

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestAPIReady serves HTTPS on loopback inside a namespace, where the host
// cannot reach it, and probes it the way Up does.
func TestAPIReady(t *testing.T) {
	n := NewTestNS(t, testPrefix+"-api")
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/readyz" {
			http.NotFound(w, req)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	l, err := n.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.StartTLS()
	defer srv.Close()

	r := &Record{Name: n.Name(), DataDir: t.TempDir()}
	ctx := context.Background()
	if err := APIReady(ctx, n, r); err == nil {
		t.Fatal("ready without a kubeconfig")
	}
	writeKubeconfig(t, r.Kubeconfig(), srv)
	if err := APIReady(ctx, n, r); err == nil {
		t.Fatal("ready while /readyz answers 503")
	}
	status.Store(http.StatusOK)
	if err := APIReady(ctx, n, r); err != nil {
		t.Fatalf("APIReady: %v", err)
	}
}

func writeKubeconfig(t *testing.T, path string, srv *httptest.Server) {
	t.Helper()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["sandbox"] = &clientcmdapi.Cluster{Server: srv.URL, CertificateAuthorityData: ca}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: "test"}
	cfg.Contexts["sandbox"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: "admin"}
	cfg.CurrentContext = "sandbox"
	if err := clientcmd.WriteToFile(*cfg, filepath.Clean(path)); err != nil {
		t.Fatal(err)
	}
}
