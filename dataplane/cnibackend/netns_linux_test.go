package cnibackend

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/vishvananda/netlink"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// TestLibcniProcNetNS attaches a container known only by its process's
// /proc/<pid>/ns/net (how Docker-style runtimes pass it).
func TestLibcniProcNetNS(t *testing.T) {
	a := newTestAgent(t)
	ctr := sandbox.NewTestNS(t, ctrPrefix)
	ctx, cancel := context.WithCancel(context.Background())
	sleep := ctr.Command(ctx, "sleep", "300")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); sleep.Wait() })

	rt := rtConf("proc1", ctr)
	rt.NetNS = fmt.Sprintf("/proc/%d/ns/net", sleep.Process.Pid)
	res := a.add(t, a.cninet, rt)
	if res.Interfaces[1].Sandbox != rt.NetNS {
		t.Errorf("sandbox %q, want %q", res.Interfaces[1].Sandbox, rt.NetNS)
	}
	checkWired(t, ctr, addrOf(t, res))
	if err := a.cninet.CheckNetworkList(t.Context(), a.list, rt); err != nil {
		t.Errorf("CHECK: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(podnet.NetNSDir, "sycni-*")); len(left) != 0 {
		t.Errorf("temporary netns names left: %v", left)
	}
	if err := a.cninet.DelNetworkList(t.Context(), a.list, rt); err != nil {
		t.Errorf("DEL: %v", err)
	}
	if v := veths(t, ctr); len(v) != 0 {
		t.Errorf("container still has %v after DEL", v)
	}
}

// TestAddRefuses: ADD does not take over another plugin's interface, and
// does not create a namespace for a path that is none.
func TestAddRefuses(t *testing.T) {
	a := newTestAgent(t)
	ctr := sandbox.NewTestNS(t, ctrPrefix)
	err := withHandle(ctr, func(h *netlink.Handle) error {
		return h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "other0"})
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.cninet.AddNetworkList(t.Context(), a.list, rtConf("foreign", ctr))
	if err == nil || !strings.Contains(err.Error(), "not switchyard's") {
		t.Errorf("ADD over a foreign eth0: %v", err)
	}
	err = withHandle(ctr, func(h *netlink.Handle) error {
		_, err := h.LinkByName("other0") // the peer of the foreign eth0
		return err
	})
	if err != nil {
		t.Errorf("foreign eth0: %v", err)
	}

	missing := filepath.Join(podnet.NetNSDir, ctrPrefix+"-missing-"+sandbox.UniqueSuffix())
	rt := rtConf("missing", ctr)
	rt.NetNS = missing
	_, err = a.cninet.AddNetworkList(t.Context(), a.list, rt)
	var e *types.Error
	if !errors.As(err, &e) || e.Code != types.ErrInvalidEnvironmentVariables {
		t.Errorf("ADD into a missing netns: %v, want code 4", err)
	}
	if _, err := os.Stat(missing); err == nil {
		os.Remove(missing)
		t.Errorf("ADD created %s", missing)
	}
	if l := a.pool.List(); len(l) != 0 {
		t.Errorf("refused ADDs hold %v", l)
	}
}
