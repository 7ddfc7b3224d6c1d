package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// nodeIPAM gives every Node without spec.podCIDR a CIDR from the allocator
// and releases the CIDR of deleted Nodes. Nodes that already have a
// podCIDR keep it (Kubernetes forbids changing it).
type nodeIPAM struct {
	client kubernetes.Interface
	nodes  corelisters.NodeLister
	cidrs  CIDRAllocator
	queue  *queue // of node names
	log    *slog.Logger
}

func newNodeIPAM(client kubernetes.Interface, f informers.SharedInformerFactory, cidrs CIDRAllocator,
	log *slog.Logger) (*nodeIPAM, error) {
	c := &nodeIPAM{
		client: client,
		nodes:  f.Core().V1().Nodes().Lister(),
		cidrs:  cidrs,
		log:    log.With("component", "node-ipam-controller"),
	}
	c.queue = newQueue("node-ipam", c.log, c.sync)
	_, err := f.Core().V1().Nodes().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.queue.enqueue,
		UpdateFunc: func(_, obj any) {
			if obj.(*corev1.Node).Spec.PodCIDR == "" {
				c.queue.enqueue(obj)
			}
		},
		DeleteFunc: c.queue.enqueue,
	})
	return c, err
}

// run releases the CIDRs of nodes that no longer exist, then serves the
// queue. Node events queued before it ran cover the rest.
func (c *nodeIPAM) run(ctx context.Context) {
	if err := c.releaseOrphans(ctx); err != nil && ctx.Err() == nil {
		c.log.Warn("release CIDRs of deleted nodes", "err", err)
	}
	c.queue.run(ctx, 1)
}

func (c *nodeIPAM) releaseOrphans(ctx context.Context) error {
	held, err := c.cidrs.List(ctx)
	if err != nil {
		return fmt.Errorf("list node CIDRs: %w", err)
	}
	for node := range held {
		// The node may be gone but its delete event missed: the queue
		// decides with the cache, as for any other node.
		if _, err := c.nodes.Get(node); apierrors.IsNotFound(err) {
			c.queue.Add(node)
		}
	}
	return nil
}

func (c *nodeIPAM) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		if err := c.cidrs.Release(ctx, name); err != nil {
			return fmt.Errorf("release CIDR of node %s: %w", name, err)
		}
		c.log.Info("released pod CIDR of deleted node", "node", name)
		return nil
	}
	if err != nil || node.Spec.PodCIDR != "" {
		return err
	}
	cidr, err := c.cidrs.Allocate(ctx, name)
	if err != nil {
		return fmt.Errorf("allocate CIDR for node %s: %w", name, err)
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{
		"podCIDR": cidr.String(), "podCIDRs": []string{cidr.String()},
	}})
	_, err = c.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil // deleted meanwhile: its delete event releases the CIDR
	}
	if err != nil {
		return fmt.Errorf("set pod CIDR of node %s: %w", name, err)
	}
	c.log.Info("assigned pod CIDR", "node", name, "cidr", cidr)
	return nil
}
