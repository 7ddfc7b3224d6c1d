package relay

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-net/switchyard/dataplane/cni"
)

// TestMirrorsCNI: the constants the relay repeats (it must not import
// dataplane/cni) are dataplane/cni's.
func TestMirrorsCNI(t *testing.T) {
	if defaultSocket != cni.DefaultAgentSocket || pathInvoke != cni.PathInvoke {
		t.Errorf("socket %q path %q, want %q %q", defaultSocket, pathInvoke, cni.DefaultAgentSocket, cni.PathInvoke)
	}
	if want := cni.SupportedVersions.SupportedVersions(); !slices.Equal(supported, want) || implemented != want[len(want)-1] {
		t.Errorf("versions %v (implemented %s), want %v", supported, implemented, want)
	}
	if !slices.Equal(envNames, cni.InvokeEnv()) {
		t.Errorf("relayed env %v, want %v", envNames, cni.InvokeEnv())
	}
}

// TestStaysLean: the plugin binary must not link what makes it slow to
// start: net (and with it cgo and libc), net/http, the CNI libraries.
func TestStaysLean(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "net" || dep == "os/user" || dep == "runtime/cgo" || strings.HasPrefix(dep, "net/") ||
			strings.HasPrefix(dep, "github.com/") && !strings.HasSuffix(dep, "/dataplane/cni/relay") {
			t.Errorf("package relay depends on %s", dep)
		}
	}
}

func TestParseResponse(t *testing.T) {
	tests := []struct {
		in     string
		status int
		body   string
		err    bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", 200, "{}", false},
		{"HTTP/1.1 204 No Content\r\n\r\n", 204, "", false},
		{"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\nX: y\r\n\r\n{\"a\":11}\ntrailing", 503, "{\"a\":11}\n", false},
		{"HTTP/1.1 200 OK\r\n\r\nuntil close", 200, "until close", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0, "", true},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 0, "", true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2", 0, "", true},
		{"SSH-2.0-x\r\n\r\n", 0, "", true},
		{"HTTP/1.1 abc\r\n\r\n", 0, "", true},
		{"", 0, "", true},
	}
	for _, tc := range tests {
		status, body, err := parseResponse([]byte(tc.in))
		if (err != nil) != tc.err || status != tc.status || string(body) != tc.body {
			t.Errorf("parseResponse(%q) = %d, %q, %v", tc.in, status, body, err)
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("HTTP/1.1 500 x\r\nContent-Length: -1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		status, body, err := parseResponse(in)
		if err == nil && (status < 100 || status > 999 || len(body) > len(in)) {
			t.Errorf("parseResponse(%q) = %d, %q", in, status, body)
		}
	})
}

// run runs the relay with env (CNI_PATH etc. filled in) and config.
func run(t *testing.T, env map[string]string, config string) (int, []byte, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Run(func(k string) string { return env[k] }, strings.NewReader(config), &stdout, &stderr)
	return code, stdout.Bytes(), stderr.String()
}

// cniError decodes the CNI error the relay printed.
func cniError(t *testing.T, out []byte) (code uint, msg string) {
	t.Helper()
	var e struct {
		Code uint   `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("output %q is no CNI error: %v", out, err)
	}
	return e.Code, e.Msg
}

func TestRunWithoutAgent(t *testing.T) {
	dir, err := os.MkdirTemp("", "sy-relay-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	down := filepath.Join(dir, "down.sock")
	conf := `{"cniVersion":"1.1.0","name":"n","type":"switchyard-cni","agentSocket":"` + down + `"}`
	add := map[string]string{"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0", "CNI_NETNS": "/x", "CNI_PATH": "/opt/cni/bin"}

	if code, out, _ := run(t, map[string]string{"CNI_COMMAND": "VERSION"}, ""); code != 0 || !strings.Contains(string(out), `"supportedVersions":["0.3.0"`) {
		t.Errorf("VERSION: %d %s", code, out)
	}
	if code, out, errOut := run(t, nil, ""); code != 0 || len(out) != 0 || !strings.Contains(errOut, "switchyard CNI plugin") {
		t.Errorf("no command: %d %q %q", code, out, errOut)
	}
	tests := []struct {
		name   string
		env    map[string]string
		config string
		code   uint
	}{
		{"agent down", add, conf, 11},
		{"status, agent down", map[string]string{"CNI_COMMAND": "STATUS", "CNI_PATH": "/x"}, conf, 50},
		{"config not JSON", add, `{"cniVersion":`, 6},
		{"add into own netns", map[string]string{"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0",
			"CNI_NETNS": "/proc/self/ns/net", "CNI_PATH": "/x"}, conf, 8},
	}
	for _, tc := range tests {
		code, out, _ := run(t, tc.env, tc.config)
		if c, msg := cniError(t, out); code != 1 || c != tc.code {
			t.Errorf("%s: exit %d, code %d (%s), want exit 1 and code %d", tc.name, code, c, msg, tc.code)
		}
	}

	// Something that is not the agent answers on the socket.
	ln, err := net.Listen("unix", filepath.Join(dir, "other.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not here", http.StatusNotFound)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	code, out, _ := run(t, add, strings.Replace(conf, down, filepath.Join(dir, "other.sock"), 1))
	if c, msg := cniError(t, out); code != 1 || c != 999 || !strings.Contains(msg, "404") {
		t.Errorf("not our agent: exit %d, code %d (%s), want 999 naming the 404", code, c, msg)
	}
}
