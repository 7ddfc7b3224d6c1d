package podip

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
)

const crashEnv = "PODIP_CRASH_CHILD_PATH"

// TestCrash kills a process with SIGKILL while it allocates from 80
// goroutines, right after 50 allocations were reported: reopening the file
// must show every reported allocation, and no address twice.
func TestCrash(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashChild(path)
		return
	}
	path := tempPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrash$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want death by SIGKILL\n%s", err, out.String())
	}
	reported := map[string]netip.Addr{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		owner, ip, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		reported[owner] = netip.MustParseAddr(ip)
	}
	if len(reported) < 50 {
		t.Fatalf("child reported %d allocations, want at least 50\n%s", len(reported), out.String())
	}
	p := openPool(t, path, "10.244.5.0/24")
	got := p.List()
	for owner, ip := range reported {
		if got[owner] != ip {
			t.Errorf("%s was given %s before the crash; after it: %s", owner, ip, got[owner])
		}
	}
	checkUnique(t, got)
	t.Logf("%d allocations reported, %d on disk after SIGKILL", len(reported), len(got))
}

func crashChild(path string) {
	p, err := Open(path, netip.MustParsePrefix("10.244.5.0/24"))
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var (
		mu sync.Mutex
		n  int
	)
	for i := range 80 {
		go func() {
			owner := fmt.Sprint("pod", i)
			ip, err := p.Allocate(owner)
			if err != nil {
				fmt.Println("allocate:", err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			fmt.Printf("%s %s\n", owner, ip)
			if n++; n == 50 {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}()
	}
	select {}
}
