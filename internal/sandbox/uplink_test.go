package sandbox

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUplinkReachesNodeAddress: with Options.Uplink, a client in the outside
// namespace reaches a server on the node's uplink address (as node-port
// clients do), sandbox exec --outside runs there, and Down removes the
// outside namespace too.
func TestUplinkReachesNodeAddress(t *testing.T) {
	reg := t.TempDir()
	r := upTest(t, Options{Binary: fakeDaemon(t, sleeper), RegistryDir: reg, Uplink: true})
	if r.OutsideNetNS != OutsideName(r.Name) {
		t.Fatalf("record outside netns %q, want %q", r.OutsideNetNS, OutsideName(r.Name))
	}
	node, err := OpenNS(r.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	out, err := OpenNS(r.OutsideNetNS)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()

	ln, err := node.Listen("tcp", netip.AddrPortFrom(UplinkNodeAddr.Addr(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, c.RemoteAddr().String())
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := out.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial the node's uplink address from outside: %v", err)
	}
	peer, _ := io.ReadAll(c)
	c.Close()
	if host, _, _ := net.SplitHostPort(string(peer)); host != UplinkOutsideAddr.Addr().String() {
		t.Errorf("node saw the client as %q, want %s", peer, UplinkOutsideAddr.Addr())
	}

	var buf bytes.Buffer
	code, err := Exec(ctx, r.Name, []string{"readlink", "/proc/self/ns/net"}, ExecOptions{RegistryDir: reg, Stdout: &buf, Outside: true})
	if err != nil || code != 0 {
		t.Fatalf("Exec --outside = %d, %v", code, err)
	}
	id, err := out.inode()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(buf.String()), "net:["+itoa(id.ino)+"]"; got != want {
		t.Errorf("Exec --outside ran in %s, want %s", got, want)
	}

	downAndCheckGone(t, r, reg, DownOptions{RegistryDir: reg})
	if _, err := os.Stat(filepath.Join(NetNSDir, OutsideName(r.Name))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("outside namespace left after Down: %v", err)
	}
}
