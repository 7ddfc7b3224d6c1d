package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SYS_ADMIN) to create and enter network namespaces")
	}
}

// inode is the identity of the namespace at path (nsfs inode).
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

// threadNS is the namespace inode of the calling thread.
func threadNS() (uint64, error) {
	var st unix.Stat_t
	err := unix.Stat("/proc/thread-self/ns/net", &st)
	return st.Ino, err
}

// testNS creates a namespace with a unique name, removed at cleanup.
func testNS(t *testing.T, tag string) string {
	t.Helper()
	name := fmt.Sprintf("sy-nstest-%s-%d", tag, os.Getpid())
	path, err := Create(name)
	if err != nil {
		t.Fatalf("Create(%s): %v", name, err)
	}
	t.Cleanup(func() {
		if err := Delete(name); err != nil {
			t.Errorf("Delete(%s): %v", name, err)
		}
	})
	return path
}

func TestDoRunsInsideAndLeavesCallerAlone(t *testing.T) {
	needRoot(t)
	path := testNS(t, "do")
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := threadNS()
	if err != nil {
		t.Fatal(err)
	}
	want := inode(t, path)
	if want == before {
		t.Fatalf("the new namespace %s is the caller's (inode %d)", path, before)
	}
	var inside uint64
	var links []string
	err = Do(path, func() error {
		var err error
		if inside, err = threadNS(); err != nil {
			return err
		}
		// /proc/thread-self/net shows the thread's namespace.
		dev, err := os.ReadFile("/proc/thread-self/net/dev")
		for _, line := range strings.Split(string(dev), "\n")[2:] {
			if name, _, ok := strings.Cut(line, ":"); ok {
				links = append(links, strings.TrimSpace(name))
			}
		}
		return err
	})
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	if inside != want {
		t.Errorf("fn ran in namespace %d, want %d (%s)", inside, want, path)
	}
	if after, _ := threadNS(); after != before {
		t.Errorf("caller's thread moved from namespace %d to %d", before, after)
	}
	if strings.Join(links, ",") != "lo" {
		t.Errorf("a new namespace holds %v, want only lo", links)
	}
}

func TestDoReturnsFnErrorAsIs(t *testing.T) {
	needRoot(t)
	path := testNS(t, "err")
	sentinel := errors.New("boom")
	if err := Do(path, func() error { return sentinel }); err != sentinel {
		t.Errorf("Do returned %v, want fn's error unchanged", err)
	}
}

func TestCreateDeleteLeaveNothing(t *testing.T) {
	needRoot(t)
	name := fmt.Sprintf("sy-nstest-cd-%d", os.Getpid())
	path, err := Create(name)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if path != Path(name) {
		t.Errorf("Create returned %s, want %s", path, Path(name))
	}
	h, err := Open(path)
	if err != nil {
		Delete(name)
		t.Fatalf("Open of a created namespace: %v", err)
	}
	h.Close()
	if _, err := Create(name); !errors.Is(err, os.ErrExist) {
		t.Errorf("Create of a taken name: %v, want os.ErrExist", err)
	}
	if _, err := Open(path); err != nil {
		t.Errorf("a failed Create of a taken name broke the namespace: %v", err)
	}
	if err := Delete(name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after Delete: %v", path, err)
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), path+" ") {
		t.Errorf("%s still mounted after Delete", path)
	}
	if err := Delete(name); err != nil {
		t.Errorf("Delete of a missing name: %v, want nil", err)
	}
}

func TestDeleteRemovesUnmountedLeftover(t *testing.T) {
	needRoot(t)
	if err := ensureDir(); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("sy-nstest-left-%d", os.Getpid())
	if err := os.WriteFile(Path(name), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Path(name)); !errors.Is(err, ErrNotNetNS) {
		t.Errorf("Open of a plain file: %v, want ErrNotNetNS", err)
	}
	if err := Delete(name); err != nil {
		t.Errorf("Delete of an unmounted leftover: %v", err)
	}
	if _, err := os.Lstat(Path(name)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover still there: %v", err)
	}
}

func TestErrorsNameThePath(t *testing.T) {
	needRoot(t)
	tests := []struct {
		path string
		want error
	}{
		{"/nonexistent/sy-nstest", os.ErrNotExist},
		{"/proc/self/ns/uts", ErrNotNetNS}, // a namespace, of another kind
		{"/etc/hostname", ErrNotNetNS},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			ran := false
			err := Do(tc.path, func() error { ran = true; return nil })
			if !errors.Is(err, tc.want) {
				t.Errorf("Do(%s) = %v, want %v", tc.path, err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), tc.path) {
				t.Errorf("error %q does not name %s", err, tc.path)
			}
			if ran {
				t.Error("fn ran although the namespace could not be entered")
			}
		})
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"sy-node1-0123abcd", true},
		{"", false}, {".", false}, {"..", false}, {"a/b", false}, {strings.Repeat("x", 201), false},
	} {
		if err := CheckName(tc.name); (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// Many goroutines entering two namespaces at once each land in the right
// one, and no thread of the pool is left in either afterwards.
func TestConcurrentDo(t *testing.T) {
	needRoot(t)
	paths := []string{testNS(t, "c0"), testNS(t, "c1")}
	want := []uint64{inode(t, paths[0]), inode(t, paths[1])}
	home, err := threadNS()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := i % 2
			errs <- Do(paths[k], func() error {
				got, err := threadNS()
				if err == nil && got != want[k] {
					err = fmt.Errorf("goroutine %d ran in %d, want %d", i, got, want[k])
				}
				return err
			})
			if got, _ := threadNS(); got != home {
				errs <- fmt.Errorf("goroutine %d: caller thread in namespace %d after Do", i, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestNetlinkHandleActsInside(t *testing.T) {
	needRoot(t)
	h, err := Open(testNS(t, "nl"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	nl, err := NetlinkHandle(int(h))
	if err != nil {
		t.Fatalf("NetlinkHandle: %v", err)
	}
	defer nl.Close()
	links, err := nl.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0].Attrs().Name != "lo" {
		t.Errorf("links through the handle: %d, want only the new namespace's lo", len(links))
	}
}

func TestBindNamesAnOpenNamespace(t *testing.T) {
	needRoot(t)
	h, err := Open(testNS(t, "src"))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	name := fmt.Sprintf("sy-nstest-bind-%d", os.Getpid())
	path, err := Bind(int(h), name)
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	var st unix.Stat_t
	unix.Fstat(int(h), &st)
	if got := inode(t, path); got != st.Ino {
		t.Errorf("%s is namespace %d, want the bound one %d", path, got, st.Ino)
	}
	if _, err := Bind(int(h), name); !errors.Is(err, os.ErrExist) {
		t.Errorf("Bind onto a taken name: %v, want os.ErrExist", err)
	}
	if err := Delete(name); err != nil {
		t.Fatal(err)
	}
	if err := DoFd(int(h), func() error { return nil }); err != nil {
		t.Errorf("the namespace died with its second name: %v", err)
	}
}

// dropSysAdmin removes CAP_SYS_ADMIN from the calling thread's effective
// set (capabilities are per thread), so that it can no longer setns(2).
func dropSysAdmin() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	data[unix.CAP_SYS_ADMIN/32].Effective &^= 1 << (unix.CAP_SYS_ADMIN % 32)
	return unix.Capset(&hdr, &data[0])
}

// A thread that cannot switch back is not handed to other goroutines: Do
// reports it and the runtime destroys the thread.
func TestThreadThatCannotSwitchBackDies(t *testing.T) {
	needRoot(t)
	path := testNS(t, "die")
	home, err := threadNS()
	if err != nil {
		t.Fatal(err)
	}
	var tid int
	err = Do(path, func() error {
		tid = unix.Gettid()
		return dropSysAdmin()
	})
	if err == nil || !strings.Contains(err.Error(), "switch back") || !errors.Is(err, unix.EPERM) {
		t.Fatalf("Do = %v, want a switch-back error wrapping EPERM", err)
	}
	task := fmt.Sprintf("/proc/self/task/%d", tid)
	// The process's main thread cannot end: the runtime parks it for good
	// instead, which cannot be told apart from outside.
	gone := tid == os.Getpid()
	for range 200 { // the runtime ends the thread as the goroutine exits
		if _, err := os.Stat(task); errors.Is(err, os.ErrNotExist) {
			gone = true
			break
		}
		runtime.Gosched()
		unix.Nanosleep(&unix.Timespec{Nsec: 5e6}, nil)
	}
	if !gone {
		t.Errorf("thread %d, stuck in %s, is still alive", tid, path)
	}
	// And every thread the pool hands out is home and can still switch.
	for range 20 {
		if err := Do(path, func() error { return nil }); err != nil {
			t.Errorf("Do after a thread died: %v", err)
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if got, _ := threadNS(); got != home {
		t.Errorf("a pool thread is in namespace %d, want %d", got, home)
	}
}

// Here, called inside Do, acts on that namespace, not the process's.
func TestHereActsInTheCallersNamespace(t *testing.T) {
	needRoot(t)
	path := testNS(t, "here")
	var names []string
	err := Do(path, func() error {
		return Here(func(h *netlink.Handle) error {
			links, err := h.LinkList()
			for _, l := range links {
				names = append(names, l.Attrs().Name)
			}
			return err
		})
	})
	if err != nil {
		t.Fatalf("Here inside Do: %v", err)
	}
	if strings.Join(names, ",") != "lo" {
		t.Errorf("Here inside Do saw links %v, want the namespace's lo only", names)
	}
}
