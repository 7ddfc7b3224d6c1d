package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-net/switchyard/dataplane/overlay"
	"github.com/switchyard-net/switchyard/dataplane/services/ebpflb"
)

// TestDaemonCleanup: after the daemon is gone, `switchyard daemon
// --cleanup` removes the service load-balancing it left programmed (by
// design it survives the daemon): the services' nftables objects and the
// pinned eBPF programs and maps, the cluster DNS address, and the overlay
// (the VXLAN device syvx0 and the route through it to another node's pod
// CIDR). The pod wiring (masquerade chain) stays.
func TestDaemonCleanup(t *testing.T) {
	lb := "nftables"
	if ebpflb.Supported() == nil {
		lb = "ebpf"
	}
	// A one-node sandbox cluster: unlike a bare sandbox node its node has
	// an underlay address, so it runs the overlay.
	c := upSandboxCluster(t, 1, 1, "--lb", lb)
	n := &node{t: t, rec: c.node(1), ns: c.n1, client: c.client, registry: c.registry}
	if _, err := n.client.CoreV1().Services("default").Create(context.Background(), webService("gone"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A peer node off the underlay (203.0.113.0/24 is not on-link), so the
	// overlay (--overlay auto) routes its pod CIDR through syvx0.
	ctx := context.Background()
	peer, err := n.client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "sy-peer-" + n.rec.NodeName, Annotations: map[string]string{
			overlay.MACAnnotation: overlay.VTEPMAC("sy-peer-" + n.rec.NodeName).String()}},
		Spec: corev1.NodeSpec{PodCIDR: "10.244.250.0/24"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	peer.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "203.0.113.7"}}
	if _, err := n.client.CoreV1().Nodes().UpdateStatus(ctx, peer, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// overlayState is the overlay's routes and its device as ip prints them.
	overlayState := func() string {
		routes, _ := n.ns.Command(ctx, "ip", "-4", "route", "show", "proto", fmt.Sprint(overlay.RouteProtocol)).Output()
		link, _ := n.ns.Command(ctx, "ip", "-br", "link", "show", "dev", overlay.DefaultDevice).Output()
		return string(routes) + string(link)
	}
	n.poll("the overlay's route to the peer's pod CIDR through syvx0", 20*time.Second, func(context.Context) bool {
		return strings.Contains(overlayState(), "10.244.250.0/24 via 10.244.250.0 dev "+overlay.DefaultDevice)
	})

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
	if left := overlayState(); strings.TrimSpace(left) != "" {
		t.Errorf("overlay routes or device left after --cleanup:\n%s", left)
	}
}
