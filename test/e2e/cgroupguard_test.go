package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// TestDaemonRefusesRootCgroup starts the real daemon the way the issue
// describes (inside a named network namespace, `--lb ebpf`, no --cgroup)
// and expects it to refuse with an error naming --cgroup.
//
// The test never risks the host's root cgroup even if the guard broke:
// the daemon runs in a cgroup namespace rooted at a test cgroup, with
// cgroup2 mounted again in a private mount namespace, so the "root" it
// sees (and would attach to) is that test cgroup.
func TestDaemonRefusesRootCgroup(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) not installed")
	}
	ns := sandbox.NewTestNS(t, "sy-guard")
	cg := sandbox.NewTestCgroup(t, "sy-guard")
	root, err := sandbox.CgroupV2Root()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(cg)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	script := "umount -l " + root + " && mount -t cgroup2 cgroup2 " + root + " && exec " + binary + " daemon --lb ebpf --node-name guard --data-dir " + t.TempDir()
	cmd := ns.Command(ctx, "unshare", "--cgroup", "--mount", "sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	out, err := cmd.CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("daemon did not refuse (err %v):\n%s", err, tail(string(out), 3000))
	}
	msg := string(out)
	for _, want := range []string{"refused on the root cgroup", "--cgroup", ns.Name()} {
		if !strings.Contains(msg, want) {
			t.Errorf("error output lacks %q:\n%s", want, tail(msg, 3000))
		}
	}
	if strings.Contains(msg, "eBPF socket load-balancing attached") {
		t.Errorf("the daemon attached its socket hooks:\n%s", tail(msg, 3000))
	}
}
