package proxy

import (
	"encoding/xml"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchyard-net/switchyard/ingress/router"
)

// h2specVersion is the h2spec release the conformance test runs.
const h2specVersion = "v2.2.1+incompatible"

// h2spec installs h2spec with go install into a cache directory (once per
// machine) and returns its path, or skips the test saying why.
func h2spec(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("H2SPEC"); p != "" {
		return p
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	bin := filepath.Join(dir, "switchyard-test-tools", "h2spec-"+strings.TrimSuffix(h2specVersion, "+incompatible"))
	exe := filepath.Join(bin, "h2spec")
	if _, err := os.Stat(exe); err == nil {
		return exe
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("h2spec not installed and no go command to install it: %v", err)
	}
	cmd := exec.Command(goBin, "install", "github.com/summerwind/h2spec/cmd/h2spec@"+h2specVersion)
	// Outside the module: h2spec's own dependencies, not ours.
	cmd.Dir = os.TempDir()
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot install h2spec %s (no module proxy?): %v\n%s", h2specVersion, err, out)
	}
	return exe
}

type junitSuites struct {
	Suites []struct {
		Cases []struct {
			Package string    `xml:"package,attr"`
			Name    string    `xml:"classname,attr"`
			Failure *struct{} `xml:"failure"`
			Error   *struct{} `xml:"error"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestH2Spec runs the h2spec conformance suite against the TLS listener
// (HTTP/2 by ALPN) and, with h2c on, against the plain-HTTP listener with
// prior knowledge: every case must pass.
func TestH2Spec(t *testing.T) {
	exe := h2spec(t)
	tp := startProxyCfg(t, Config{H2C: true})
	be := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello from the endpoint\n")) // > 5 bytes: h2spec skips flow-control cases otherwise
	}))
	tp.p.SetTable(router.Compile([]router.Rule[*Backend]{
		{Path: "/", Target: tp.p.NewBackend("d/i", "d/s:80", []string{be}, Options{})},
	}, nil))
	for _, tc := range []struct {
		name, addr string
		tls        bool
	}{{"tls", tp.https, true}, {"h2c", tp.http, false}} {
		t.Run(tc.name, func(t *testing.T) {
			host, port, _ := net.SplitHostPort(tc.addr)
			report := filepath.Join(t.TempDir(), "report.xml")
			args := []string{"-h", host, "-p", port, "-j", report, "-o", "5"}
			if tc.tls {
				args = append(args, "-t", "-k")
			}
			out, _ := exec.Command(exe, args...).CombinedOutput()
			raw, err := os.ReadFile(report)
			if err != nil {
				t.Fatalf("h2spec wrote no report: %v\n%s", err, out)
			}
			var r junitSuites
			if err := xml.Unmarshal(raw, &r); err != nil {
				t.Fatalf("h2spec report: %v", err)
			}
			total, passed := 0, 0
			var failed []string
			for _, s := range r.Suites {
				for _, c := range s.Cases {
					total++
					if c.Failure == nil && c.Error == nil && c.Skipped == nil {
						passed++
					} else {
						failed = append(failed, c.Package+" "+c.Name)
					}
				}
			}
			t.Logf("h2spec %s: %d/%d passed", tc.name, passed, total)
			if total != 145 || passed != total {
				t.Errorf("h2spec %s: %d/%d passed, want 145/145; failed:\n%s\n%s", tc.name, passed, total,
					strings.Join(failed, "\n"), tail(out, 4000))
			}
		})
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
