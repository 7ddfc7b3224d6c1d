package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const crashDirEnv = "SWITCHYARD_STORE_CRASH_DIR"

// TestCrashRestart kills a process holding the store with SIGKILL and
// reopens its data dir: acknowledged writes survive, the stale socket is
// replaced and the data dir's locks are free again.
func TestCrashRestart(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashRestart$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	cmd.Process.Kill()
	cmd.Wait()
	if !strings.HasPrefix(line, "ready ") {
		t.Fatalf("child said %q, %v", line, err)
	}
	s := openTest(t, dir)
	kv, err := s.Get(testCtx(t), "/crash")
	if err != nil || string(kv.Value) != "survived" || fmt.Sprint("ready ", kv.Revision, "\n") != line {
		t.Fatalf("after SIGKILL Get = %+v, %v; child reported %q", kv, err, line)
	}
}

// crashChild writes a key, reports its revision and waits to be killed.
func crashChild(dir string) {
	s, err := Open(context.Background(), Config{DataDir: dir, CompactInterval: -1})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(1)
	}
	rev, err := s.Create(context.Background(), "/crash", []byte("survived"))
	if err != nil {
		fmt.Println("create:", err)
		os.Exit(1)
	}
	fmt.Println("ready", rev)
	time.Sleep(time.Minute) // the parent kills us long before; never linger
	os.Exit(2)
}
