package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeDaemon writes a shell script standing in for `switchyard daemon`. It
// is called as `daemon --data-dir DIR …`, records its netns and cgroup in
// DIR and then runs body.
func fakeDaemon(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-switchyard")
	script := `#!/bin/sh
dir=$3
echo "fake daemon: $*"
cat /proc/self/cgroup > "$dir/cgroup"
readlink /proc/self/ns/net > "$dir/netns.tmp" && mv "$dir/netns.tmp" "$dir/netns"
` + body + "\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

const sleeper = `trap 'echo terminated; exit 0' TERM
sleep 600 &
wait`

// fakeReady: the fake daemon has recorded its namespace and still runs.
func fakeReady(_ context.Context, _ *NS, r *Record) error {
	if _, err := os.Stat(filepath.Join(r.DataDir, "netns")); err != nil {
		return err
	}
	if !procAlive(r.PID, r.PIDStart) {
		return errors.New("daemon not running")
	}
	return nil
}

func testName() string { return testPrefix + "-" + UniqueSuffix() }

// upTest runs Up with the fake daemon and registers a Down.
func upTest(t *testing.T, o Options) *Record {
	t.Helper()
	skipUnlessRoot(t)
	if o.Name == "" {
		o.Name = testName()
	}
	if o.RegistryDir == "" {
		o.RegistryDir = t.TempDir()
	}
	if o.Ready == nil {
		o.Ready = fakeReady
	}
	o.ReadyTimeout = 20 * time.Second
	r, err := Up(context.Background(), o)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Cleanup(func() {
		err := Down(context.Background(), r.Name, DownOptions{RegistryDir: o.RegistryDir, StopTimeout: time.Second})
		if err != nil && !errors.Is(err, ErrNotFound) {
			t.Errorf("Down: %v", err)
		}
	})
	return r
}

func TestUpExecDown(t *testing.T) {
	reg := t.TempDir()
	r := upTest(t, Options{Binary: fakeDaemon(t, sleeper), RegistryDir: reg, ExtraArgs: []string{"--lb", "nftables"}})

	if want := filepath.Join(os.TempDir(), "switchyard-sandbox-"+r.Name); r.DataDir != want || !r.OwnDataDir {
		t.Errorf("data dir %s (own %v), want %s created by Up", r.DataDir, r.OwnDataDir, want)
	}
	wantArgs := "daemon --data-dir " + r.DataDir + " --node-name " + r.Name + " --api-addr 127.0.0.1:6443"
	if got := strings.Join(r.Args, " "); !strings.HasPrefix(got, wantArgs) || !strings.HasSuffix(got, "--lb nftables") {
		t.Errorf("daemon args %q, want %q … --lb nftables", got, wantArgs)
	}
	daemonNS := readTrim(t, filepath.Join(r.DataDir, "netns"))
	if daemonNS == hostNetNS(t) {
		t.Fatal("daemon runs in the host netns")
	}
	if r.Cgroup != "" {
		if cg := readTrim(t, filepath.Join(r.DataDir, "cgroup")); !strings.Contains(cg, "switchyard-sandbox-"+r.Name+"/daemon") {
			t.Errorf("daemon cgroup %q, want under %s/daemon", cg, r.Cgroup)
		}
	}
	if _, err := os.Stat(filepath.Join(reg, r.Name+".json")); err != nil {
		t.Errorf("registry entry: %v", err)
	}

	// exec: inside the netns, with KUBECONFIG, exit status passed through.
	var out bytes.Buffer
	code, err := Exec(context.Background(), r.Name,
		[]string{"sh", "-c", `readlink /proc/self/ns/net; echo "$KUBECONFIG"; grep -c /exec /proc/self/cgroup; exit 7`},
		ExecOptions{RegistryDir: reg, Stdout: &out, Stderr: &out})
	if err != nil || code != 7 {
		t.Fatalf("Exec = %d, %v; want 7\n%s", code, err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) < 2 || lines[0] != daemonNS || lines[1] != r.Kubeconfig() {
		t.Errorf("exec output %q, want netns %s and KUBECONFIG %s", lines, daemonNS, r.Kubeconfig())
	}
	if r.Cgroup != "" && (len(lines) < 3 || lines[2] != "1") {
		t.Errorf("exec'd command not in the sandbox's exec cgroup: %q", lines)
	}
	if code, err := Exec(context.Background(), r.Name, []string{"sh", "-c", "kill -TERM $$"}, ExecOptions{RegistryDir: reg}); err != nil || code != 128+15 {
		t.Errorf("Exec of a command killed by SIGTERM = %d, %v; want 143", code, err)
	}
	if code, err := Exec(context.Background(), r.Name, []string{"no-such-command-" + UniqueSuffix()}, ExecOptions{RegistryDir: reg}); err == nil || code != 127 {
		t.Errorf("Exec of a missing command = %d, %v; want 127 and an error", code, err)
	}

	// list
	st, err := List(reg)
	if err != nil || len(st) != 1 || st[0].Name != r.Name || !st[0].Alive || !st[0].NetNSExists || st[0].PID != r.PID {
		t.Fatalf("List = %+v, %v", st, err)
	}

	downAndCheckGone(t, r, reg, DownOptions{RegistryDir: reg})
	if err := Down(context.Background(), r.Name, DownOptions{RegistryDir: reg}); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Down = %v, want ErrNotFound", err)
	}
	if st, _ := List(reg); len(st) != 0 {
		t.Errorf("List after Down = %+v", st)
	}
}

// downAndCheckGone runs Down and checks that nothing of r is left.
func downAndCheckGone(t *testing.T, r *Record, reg string, o DownOptions) {
	t.Helper()
	if err := Down(context.Background(), r.Name, o); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if procAlive(r.PID, r.PIDStart) {
		t.Errorf("daemon %d still running", r.PID)
	}
	for _, p := range []string{filepath.Join(NetNSDir, r.Name), filepath.Join(reg, r.Name+".json"), r.Cgroup} {
		if _, err := os.Stat(p); p != "" && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after Down: %v", p, err)
		}
	}
	if _, err := os.Stat(r.DataDir); o.KeepData == errors.Is(err, os.ErrNotExist) {
		t.Errorf("data dir %s after Down with KeepData=%v: %v", r.DataDir, o.KeepData, err)
	}
}

func TestUpDaemonExitsEarly(t *testing.T) {
	skipUnlessRoot(t)
	reg := t.TempDir()
	name := testName()
	_, err := Up(context.Background(), Options{
		Name:        name,
		Binary:      fakeDaemon(t, "echo 'boom: cannot start' >&2; exit 3"),
		RegistryDir: reg,
		Ready:       fakeReady,
	})
	if err == nil || !strings.Contains(err.Error(), "boom: cannot start") || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("Up = %v, want the daemon's exit and log tail", err)
	}
	for _, p := range []string{filepath.Join(NetNSDir, name), filepath.Join(reg, name+".json"), DefaultDataDir(name)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left after a failed Up: %v", p, err)
		}
	}
}

func TestUpTimeout(t *testing.T) {
	skipUnlessRoot(t)
	reg := t.TempDir()
	name := testName()
	_, err := Up(context.Background(), Options{
		Name:         name,
		Binary:       fakeDaemon(t, sleeper),
		RegistryDir:  reg,
		ReadyTimeout: 500 * time.Millisecond,
		Ready:        func(context.Context, *NS, *Record) error { return errors.New("never ready") },
	})
	if err == nil || !strings.Contains(err.Error(), "never ready") || !strings.Contains(err.Error(), "fake daemon:") {
		t.Fatalf("Up = %v, want a timeout with the probe's error and the log tail", err)
	}
	if netnsExists(name) {
		t.Errorf("netns %s left after a failed Up", name)
	}
}

// TestDownKillsEverything: a daemon that ignores SIGTERM, a process that
// left its process group, and one started in the namespace from outside
// (in no sandbox cgroup) are all gone after Down, and so are the daemon's
// pod namespaces, while look-alike namespaces stay.
func TestDownKillsEverything(t *testing.T) {
	reg := t.TempDir()
	stubborn := `trap '' TERM
setsid sleep 600 </dev/null >/dev/null 2>&1 &
while :; do sleep 1; done`
	r := upTest(t, Options{Binary: fakeDaemon(t, stubborn), RegistryDir: reg})

	n, err := OpenNS(r.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	outsider := n.Command(context.Background(), "sleep", "600")
	outsider.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := outsider.Start(); err != nil {
		t.Fatal(err)
	}
	outsiderDone := make(chan error, 1)
	go func() { outsiderDone <- outsider.Wait() }()

	pod := NewTestNS(t, "sy-"+r.NodeName) // sy-<node>-<6 hex>: not a pod name
	podNS, err := NewNS(fmt.Sprintf("sy-%s-%s00", r.NodeName, UniqueSuffix()))
	if err != nil {
		t.Fatal(err)
	}
	defer podNS.Close()

	start := time.Now()
	downAndCheckGone(t, r, reg, DownOptions{RegistryDir: reg, StopTimeout: 300 * time.Millisecond})
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("Down took %v", d)
	}
	select {
	case <-outsiderDone:
	case <-time.After(5 * time.Second):
		t.Error("process started inside the namespace survived Down")
	}
	if netnsExists(podNS.Name()) {
		t.Errorf("pod netns %s left after Down", podNS.Name())
	}
	if !netnsExists(pod.Name()) {
		t.Errorf("Down removed %s, which is not a pod netns of %s", pod.Name(), r.NodeName)
	}
}

func TestDownKeepsData(t *testing.T) {
	reg := t.TempDir()
	existing := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(existing, 0o700); err != nil {
		t.Fatal(err)
	}
	r := upTest(t, Options{Binary: fakeDaemon(t, sleeper), RegistryDir: reg, DataDir: existing})
	if r.OwnDataDir {
		t.Error("Up claims a data dir that existed before")
	}
	downAndCheckGone(t, r, reg, DownOptions{RegistryDir: reg, KeepData: true})
	if _, err := os.Stat(filepath.Join(existing, "daemon.log")); err != nil {
		t.Errorf("daemon log gone from a kept data dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(existing, recordFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("record left in the kept data dir: %v", err)
	}

	r2 := upTest(t, Options{Binary: fakeDaemon(t, sleeper), RegistryDir: reg})
	downAndCheckGone(t, r2, reg, DownOptions{RegistryDir: reg, KeepData: true})
	os.RemoveAll(r2.DataDir)
}

// TestDownHalfCreated: an Up interrupted after creating the namespace is
// cleaned up by Down from its record.
func TestDownHalfCreated(t *testing.T) {
	skipUnlessRoot(t)
	reg := t.TempDir()
	r, err := Options{Name: testName(), Binary: "/bin/true"}.record()
	if err != nil {
		t.Fatal(err)
	}
	if err := reserve(reg, r); err != nil {
		t.Fatal(err)
	}
	n, err := createNetNS(reg, r)
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if _, err := Up(context.Background(), Options{Name: r.Name, RegistryDir: reg, Binary: "/bin/true"}); err == nil {
		t.Error("Up of a name in use: want error")
	}
	downAndCheckGone(t, r, reg, DownOptions{RegistryDir: reg})
}

// TestUpRefusesForeignNetNS: a namespace of the same name that is not a
// sandbox's is neither used nor deleted.
func TestUpRefusesForeignNetNS(t *testing.T) {
	foreign := NewTestNS(t, testPrefix)
	reg := t.TempDir()
	_, err := Up(context.Background(), Options{Name: foreign.Name(), RegistryDir: reg, Binary: fakeDaemon(t, sleeper), Ready: fakeReady})
	if err == nil {
		t.Fatal("Up over an existing netns: want error")
	}
	if !netnsExists(foreign.Name()) {
		t.Error("failed Up deleted a namespace it did not create")
	}
	if _, err := os.Stat(filepath.Join(reg, foreign.Name()+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("registry entry left: %v", err)
	}
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
