package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestTwoControlPlanesShareOneEtcd runs a second control plane against the
// first one's etcd (--etcd-endpoints): both serve the same objects, only one
// runs the controllers (the Lease holder), and Services created through both
// at once never get the same ClusterIP.
func TestTwoControlPlanesShareOneEtcd(t *testing.T) {
	a := startDaemon(t, t.TempDir(), "")
	sock := "unix://" + filepath.Join(a.dataDir, "etcd", "etcd.sock")
	b := startDaemon(t, t.TempDir(), "", "--etcd-endpoints", sock)
	ctx := context.Background()
	clients := []kubernetes.Interface{a.client(), b.client()}
	const perSide = 60
	var mu sync.Mutex
	ips := map[string]string{}
	var wg sync.WaitGroup
	for side, c := range clients {
		for i := range perSide {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("s%d-%d", side, i)
				svc, err := c.CoreV1().Services("default").Create(ctx, webService(name), metav1.CreateOptions{})
				if err != nil {
					t.Errorf("create %s: %v", name, err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if other, dup := ips[svc.Spec.ClusterIP]; dup {
					t.Errorf("clusterIP %s given to %s and %s", svc.Spec.ClusterIP, other, name)
				}
				ips[svc.Spec.ClusterIP] = name
			}()
		}
	}
	wg.Wait()
	// Each side sees what the other created.
	for _, c := range clients {
		list, err := c.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
		if err != nil || userServices(list) != 2*perSide {
			t.Fatalf("list: %d services besides kubernetes, err %v; want %d", userServices(list), err, 2*perSide)
		}
	}
	pollFor(t, "one controller-manager leader", func() bool {
		l, err := clients[1].CoordinationV1().Leases("kube-system").Get(ctx, "switchyard-controller-manager", metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != ""
	})
}
