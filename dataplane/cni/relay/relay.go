// Package relay is the slim CNI plugin binary (cmd/switchyard-cni): it
// relays each invocation (the CNI_* environment and the config on stdin)
// to the node agent's unix socket as one POST /v1/invoke, prints the
// agent's answer and exits 0 on success, 1 on failure.
//
// # Why a relay
//
// A runtime execs the plugin for every ADD, CHECK and DEL, so the plugin's
// start is paid by every pod. A plugin built on the CNI libraries and
// net/http links the net package, which makes the Go binary dynamically
// linked against libc (the cgo resolver), and starts ~1.5 ms slower than
// a static one; net/http adds its own setup per call. This package imports
// only os, syscall, encoding/json and a few packages below them (a test
// pins the list), so the binary is static and small, and the agent does
// everything skel and the plugin would do (see cni.Invocation): checking
// the environment, parsing and versioning the config, converting the
// result to the config's version.
//
// What the relay does itself, because only the plugin's process can:
//   - VERSION and the "about" text without CNI_COMMAND (no agent needed);
//   - refusing an ADD into its own network namespace (code 8), and
//     reporting a DEL there after it ran, as skel does;
//   - when the agent cannot be reached or does not answer in time: code 11
//     ("try again later"; 50 for STATUS) naming the socket.
//
// The agent socket is the config's agentSocket (default
// /var/lib/switchyard/cni.sock).
package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// These mirror dataplane/cni (which this package must not import: it pulls
// in net); a test keeps them equal.
const (
	defaultSocket = "/var/lib/switchyard/cni.sock"
	pathInvoke    = "/v1/invoke"
	implemented   = "1.1.0"
	about         = "switchyard CNI plugin: forwards to the switchyard node agent on its unix socket"
)

var (
	supported = []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}
	envNames  = []string{"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", "CNI_NETNS_OVERRIDE"}
)

// CNI error codes the relay produces itself.
const (
	errInvalidEnv       = 4
	errIOFailure        = 5
	errDecodingFailure  = 6
	errInvalidNetNS     = 8
	errTryAgainLater    = 11
	errPluginNotAvail   = 50
	errInternal         = 999
	maxAnswer           = 1 << 20
	callTimeout         = 2 * time.Minute
	statusTimeout       = 10 * time.Second
	ownNetNSPath        = "/proc/self/ns/net"
	netnsOverrideTrue   = "TRUE"
	netnsOverrideNumber = "1"
)

// Main runs one invocation from the process's environment and stdin and
// exits.
func Main() {
	os.Exit(Run(os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// Run is Main with its inputs and outputs passed in; it returns the exit
// status.
func Run(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := getenv("CNI_COMMAND")
	switch cmd {
	case "":
		fmt.Fprintln(stderr, about)
		fmt.Fprintf(stderr, "CNI protocol versions supported: %s\n", strings.Join(supported, ", "))
		return 0
	case "VERSION":
		json.NewEncoder(stdout).Encode(struct {
			CNIVersion string   `json:"cniVersion"`
			Supported  []string `json:"supportedVersions"`
		}{implemented, supported})
		return 0
	}
	data, err := io.ReadAll(stdin)
	if err != nil {
		return fail(stdout, errIOFailure, "error reading from stdin: "+err.Error(), "")
	}
	var conf struct {
		AgentSocket string `json:"agentSocket"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		return fail(stdout, errDecodingFailure, "error unmarshall network config: "+err.Error(), "")
	}
	if conf.AgentSocket == "" {
		conf.AgentSocket = defaultSocket
	}
	checkNetNS := cmd == "ADD" || cmd == "DEL"
	if o := getenv("CNI_NETNS_OVERRIDE"); strings.ToUpper(o) == netnsOverrideTrue || o == netnsOverrideNumber {
		checkNetNS = false
	}
	if checkNetNS && cmd == "ADD" && ownNetNS(getenv("CNI_NETNS")) {
		return fail(stdout, errInvalidNetNS, "CNI_NETNS is the plugin's own network namespace", getenv("CNI_NETNS"))
	}
	inv := struct {
		Env   map[string]string `json:"env"`
		Stdin []byte            `json:"stdin"`
	}{Env: map[string]string{}, Stdin: data}
	for _, k := range envNames {
		if v := getenv(k); v != "" {
			inv.Env[k] = v
		}
	}
	body, err := json.Marshal(inv)
	if err != nil {
		return fail(stdout, errInternal, "encode request", err.Error())
	}
	timeout, unreachable := callTimeout, uint(errTryAgainLater)
	if cmd == "STATUS" {
		timeout, unreachable = statusTimeout, errPluginNotAvail
	}
	status, answer, err := post(conf.AgentSocket, body, timeout)
	if err != nil {
		return fail(stdout, unreachable, "switchyard agent unreachable on "+conf.AgentSocket, err.Error())
	}
	if status/100 != 2 {
		var e struct {
			Code uint `json:"code"`
		}
		if json.Unmarshal(answer, &e) != nil || e.Code == 0 {
			return fail(stdout, errInternal, "switchyard agent answered "+strconv.Itoa(status), string(bytes.TrimSpace(answer)))
		}
		stdout.Write(answer)
		return 1
	}
	if checkNetNS && cmd == "DEL" && ownNetNS(getenv("CNI_NETNS")) {
		return fail(stdout, errInvalidNetNS, "plugin's netns and netns from CNI_NETNS should not be the same", "")
	}
	if _, err := stdout.Write(answer); err != nil {
		return 1
	}
	return 0
}

// fail prints a CNI error object and returns the exit status 1.
func fail(stdout io.Writer, code uint, msg, details string) int {
	b, _ := json.Marshal(struct {
		Code    uint   `json:"code"`
		Msg     string `json:"msg"`
		Details string `json:"details,omitempty"`
	}{code, msg, details})
	stdout.Write(b)
	return 1
}

// ownNetNS reports whether path is the network namespace the plugin runs
// in; a path that cannot be read is not (DEL of a gone netns).
func ownNetNS(path string) bool {
	if path == "" {
		return false
	}
	var a, b syscall.Stat_t
	if syscall.Stat(path, &a) != nil || syscall.Stat(ownNetNSPath, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// post sends body to the agent as an HTTP/1.1 request on a fresh unix
// socket connection and returns the status and the answer's body. The
// agent always sends Content-Length (never chunks) and closes the
// connection.
func post(socket string, body []byte, timeout time.Duration) (int, []byte, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("socket: %w", err)
	}
	defer syscall.Close(fd)
	if err := connect(fd, socket); err != nil {
		return 0, nil, fmt.Errorf("connect: %w", err)
	}
	tv := syscall.NsecToTimeval(timeout.Nanoseconds())
	for _, opt := range []int{syscall.SO_RCVTIMEO, syscall.SO_SNDTIMEO} {
		if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, opt, &tv); err != nil {
			return 0, nil, fmt.Errorf("socket timeout: %w", err)
		}
	}
	req := make([]byte, 0, 160+len(body))
	req = append(req, "POST "+pathInvoke+" HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "...)
	req = strconv.AppendInt(req, int64(len(body)), 10)
	req = append(append(req, "\r\n\r\n"...), body...)
	for len(req) > 0 {
		n, err := syscall.Write(fd, req)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("send: %w", timedOut(err))
		}
		req = req[n:]
	}
	var resp []byte
	buf := make([]byte, 8192)
	for {
		n, err := syscall.Read(fd, buf)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return 0, nil, fmt.Errorf("read answer: %w", timedOut(err))
		}
		if n == 0 {
			break
		}
		if resp = append(resp, buf[:n]...); len(resp) > maxAnswer {
			return 0, nil, errors.New("answer too long")
		}
	}
	return parseResponse(resp)
}

func connect(fd int, socket string) error {
	for {
		err := syscall.Connect(fd, &syscall.SockaddrUnix{Name: socket})
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func timedOut(err error) error {
	if errors.Is(err, syscall.EAGAIN) {
		return errors.New("no answer in time")
	}
	return err
}

// parseResponse splits an HTTP/1.1 response into its status and body.
func parseResponse(resp []byte) (int, []byte, error) {
	head, body, ok := bytes.Cut(resp, []byte("\r\n\r\n"))
	if !ok {
		return 0, nil, errors.New("answer cut short")
	}
	lines := strings.Split(string(head), "\r\n")
	proto, rest, _ := strings.Cut(lines[0], " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil || status < 100 || status > 999 {
		return 0, nil, fmt.Errorf("not an HTTP answer: %q", lines[0])
	}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "content-length":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > len(body) {
				return 0, nil, fmt.Errorf("answer cut short (content-length %q, %d bytes)", v, len(body))
			}
			body = body[:n]
		case "transfer-encoding":
			if !strings.EqualFold(v, "identity") {
				return 0, nil, fmt.Errorf("unsupported transfer-encoding %q", v)
			}
		}
	}
	return status, body, nil
}
