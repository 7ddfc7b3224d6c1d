package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-net/switchyard/dataplane/services/ebpflb"
)

// TestDaemonCleanup: after the daemon is gone, `switchyard daemon
// --cleanup` removes the service load-balancing it left programmed (by
// design it survives the daemon): the services' nftables objects and the
// pinned eBPF programs and maps. The pod wiring (masquerade chain) stays.
func TestDaemonCleanup(t *testing.T) {
	lb := "nftables"
	if ebpflb.Supported() == nil {
		lb = "ebpf"
	}
	n := upNode(t, "--lb", lb)
	if _, err := n.client.CoreV1().Services("default").Create(context.Background(), webService("gone"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// nftList is the table as nft prints it ("" while there is none).
	nftList := func() string {
		out, err := n.ns.Command(context.Background(), "nft", "list", "table", "inet", "switchyard").Output()
		if err != nil {
			return ""
		}
		return string(out)
	}
	pins := filepath.Join("/sys/fs/bpf/switchyard", n.rec.NodeName)
	n.poll("the node wired, the DNS address bound and the service programmed", 20*time.Second, func(context.Context) bool {
		_, err := os.Stat(pins)
		table := nftList()
		lo, _ := n.ns.Command(context.Background(), "ip", "-4", "addr", "show", "dev", "lo").Output()
		return strings.Contains(string(lo), "10.96.0.10") && strings.Contains(table, "pod-masquerade") && strings.Contains(table, "svc-ips") && (lb != "ebpf" || err == nil)
	})

	if err := syscall.Kill(-n.rec.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100 && syscall.Kill(n.rec.PID, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(nftList(), "svc-ips") {
		t.Fatal("the rules went away with the daemon; they must outlive it")
	}
	out, err := n.ns.Command(context.Background(), n.rec.Binary, "daemon", "--cleanup",
		"--node-name", n.rec.NodeName, "--data-dir", n.rec.DataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("daemon --cleanup: %v\n%s", err, out)
	}
	left := nftList()
	if strings.Contains(left, "svc-") {
		t.Errorf("service objects left after --cleanup:\n%s", left)
	}
	if !strings.Contains(left, "pod-masquerade") {
		t.Errorf("--cleanup removed the pods' masquerade chain:\n%s", left)
	}
	if _, err := os.Stat(pins); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("BPF pins %s after --cleanup: %v", pins, err)
	}
	if addrs, err := n.ns.Command(context.Background(), "ip", "-4", "addr", "show", "dev", "lo").Output(); err != nil || strings.Contains(string(addrs), "10.96.0.10") {
		t.Errorf("cluster DNS address on lo after --cleanup (%v):\n%s", err, addrs)
	}
}
