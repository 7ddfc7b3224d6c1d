package ipam

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard-net/switchyard/ipam/internal/cidr"
)

// Node CIDR keys: one per allocated block, <blocks><prefix> -> {owner:
// node}, and one index key per node, <nodes><node> -> {owner: node, cidr:
// prefix}. Both are created and deleted together in one transaction.
const (
	nodeBlockPrefix = keyPrefix + "nodecidrs/blocks/"
	nodeIndexPrefix = keyPrefix + "nodecidrs/nodes/"
)

// maxNodeCIDRBits bounds how many bits longer than the cluster CIDR a
// node's block may be, as the Kubernetes node IPAM controller does.
const maxNodeCIDRBits = 16

// NodeCIDRs hands each node a pod CIDR block carved out of the cluster
// CIDR, cluster-wide through etcd. A node keeps its block until Release:
// allocating again for the same node returns the same block. Blocks are
// handed out lowest first.
//
// A NodeCIDRs is safe for concurrent use, and any number of them, in any
// number of processes, can share one etcd.
type NodeCIDRs struct {
	cli     *clientv3.Client
	cluster netip.Prefix
	bits    int // length of each node block
	sp      *space
}

// NewNodeCIDRs returns the allocator of /maskBits blocks of clusterCIDR.
// maskBits must be longer than the cluster prefix by at most 16 bits and
// leave at least two host bits. It does no I/O.
func NewNodeCIDRs(cli *clientv3.Client, clusterCIDR netip.Prefix, maskBits int) (*NodeCIDRs, error) {
	if cli == nil {
		return nil, errors.New("node CIDRs: nil etcd client")
	}
	if !clusterCIDR.IsValid() {
		return nil, fmt.Errorf("node CIDRs: invalid cluster CIDR %s", clusterCIDR)
	}
	p := clusterCIDR.Masked()
	switch {
	case maskBits <= p.Bits():
		return nil, fmt.Errorf("node CIDR mask /%d must be longer than cluster CIDR %s", maskBits, p)
	case maskBits-p.Bits() > maxNodeCIDRBits:
		return nil, fmt.Errorf("node CIDR mask /%d is more than %d bits longer than cluster CIDR %s", maskBits, maxNodeCIDRBits, p)
	case maskBits > p.Addr().BitLen()-2:
		return nil, fmt.Errorf("node CIDR mask /%d leaves no room for pods", maskBits)
	}
	a := &NodeCIDRs{cli: cli, cluster: p, bits: maskBits}
	n := 1 << (maskBits - p.Bits())
	a.sp = &space{
		cli:         cli,
		prefix:      nodeBlockPrefix,
		desc:        fmt.Sprintf("cluster CIDR %s (/%d per node)", p, maskBits),
		n:           n,
		name:        func(i int) string { return a.block(i).String() },
		slot:        a.slot,
		bands:       [][2]int{{0, n}},
		lowestFirst: true,
	}
	return a, nil
}

// ClusterCIDR returns the cluster CIDR and the length of node blocks.
func (a *NodeCIDRs) ClusterCIDR() (netip.Prefix, int) { return a.cluster, a.bits }

// Allocate returns node's block, allocating a free one if the node has
// none. It returns an error matching ErrFull when every block is taken.
// A block allocated under an earlier cluster CIDR is returned as it is:
// a node's pod CIDR never changes until Release.
func (a *NodeCIDRs) Allocate(ctx context.Context, node string) (netip.Prefix, error) {
	if checkOwner(node) != nil {
		return netip.Prefix{}, fmt.Errorf("allocate node CIDR: invalid node name %q", node)
	}
	if p, err := a.Get(ctx, node); !errors.Is(err, ErrNotFound) {
		return p, err
	}
	var existing netip.Prefix
	i, err := a.sp.allocate(ctx, func(ctx context.Context, i int) error {
		p, err := a.claim(ctx, node, i)
		existing = p
		return err
	})
	if errors.Is(err, errNodeHasCIDR) {
		return existing, nil
	}
	if err != nil {
		return netip.Prefix{}, err
	}
	return a.block(i), nil
}

// errNodeHasCIDR ends an allocation that lost a race with another
// allocation for the same node.
var errNodeHasCIDR = errors.New("node has a CIDR")

// claim creates block i and node's index key together. The block being
// taken yields errTaken; the node having a block yields errNodeHasCIDR and
// that block.
func (a *NodeCIDRs) claim(ctx context.Context, node string, i int) (netip.Prefix, error) {
	blockKey, nodeKey := a.sp.key(i), nodeIndexPrefix+node
	rec := newRecord(node)
	idx := rec
	idx.CIDR = a.block(i).String()
	resp, err := a.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(blockKey), "=", 0),
			clientv3.Compare(clientv3.CreateRevision(nodeKey), "=", 0)).
		Then(clientv3.OpPut(blockKey, rec.encode()), clientv3.OpPut(nodeKey, idx.encode())).
		Else(clientv3.OpGet(nodeKey)).
		Commit()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("create %s: %w", blockKey, err)
	}
	if resp.Succeeded {
		return netip.Prefix{}, nil
	}
	kvs := resp.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return netip.Prefix{}, errTaken
	}
	p, err := decodeIndex(kvs[0].Value)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("node %s: %w", node, err)
	}
	return p, errNodeHasCIDR
}

// Get returns node's block, or an error matching ErrNotFound.
func (a *NodeCIDRs) Get(ctx context.Context, node string) (netip.Prefix, error) {
	resp, err := a.cli.Get(ctx, nodeIndexPrefix+node)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("get node CIDR of %s: %w", node, err)
	}
	if len(resp.Kvs) == 0 {
		return netip.Prefix{}, errorf(ErrNotFound, "node %s has no block in %s", node, a.sp.desc)
	}
	p, err := decodeIndex(resp.Kvs[0].Value)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("node %s: %w", node, err)
	}
	return p, nil
}

// Release frees node's block. Releasing a node without one succeeds.
func (a *NodeCIDRs) Release(ctx context.Context, node string) error {
	nodeKey := nodeIndexPrefix + node
	for {
		resp, err := a.cli.Get(ctx, nodeKey)
		if err != nil {
			return fmt.Errorf("release node CIDR of %s: %w", node, err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(nodeKey), "=", resp.Kvs[0].ModRevision)}
		ops := []clientv3.Op{clientv3.OpDelete(nodeKey)}
		p, err := decodeIndex(resp.Kvs[0].Value)
		if err == nil {
			blockKey := nodeBlockPrefix + p.String()
			// Delete the block only while it is this node's.
			b, err := a.cli.Get(ctx, blockKey)
			if err != nil {
				return fmt.Errorf("release node CIDR of %s: %w", node, err)
			}
			if len(b.Kvs) > 0 && ownerOf(b.Kvs[0].Value) == node {
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(blockKey), "=", b.Kvs[0].ModRevision))
				ops = append(ops, clientv3.OpDelete(blockKey))
			}
		}
		tx, err := a.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("release node CIDR of %s: %w", node, err)
		}
		if tx.Succeeded {
			if i, ok := a.slot(p.String()); ok {
				a.sp.mark(i, false)
			}
			return nil
		}
	}
}

// List returns every node's block.
func (a *NodeCIDRs) List(ctx context.Context) (map[string]netip.Prefix, error) {
	m := make(map[string]netip.Prefix)
	err := list(ctx, a.cli, nodeIndexPrefix, false, func(node string, val []byte) {
		if p, err := decodeIndex(val); err == nil {
			m[node] = p
		}
	})
	return m, err
}

// block returns the prefix of slot i.
func (a *NodeCIDRs) block(i int) netip.Prefix { return cidr.Block(a.cluster, a.bits, uint64(i)) }

// slot maps a key suffix (a block prefix) to its bitmap slot.
func (a *NodeCIDRs) slot(suffix string) (int, bool) {
	p, err := netip.ParsePrefix(suffix)
	if err != nil || p.Bits() != a.bits {
		return 0, false
	}
	i, ok := cidr.BlockIndex(a.cluster, p)
	if !ok || i >= uint64(a.sp.n) {
		return 0, false
	}
	return int(i), true
}

// decodeIndex returns the block recorded in a node's index value.
func decodeIndex(b []byte) (netip.Prefix, error) {
	r, err := decodeRecord(b)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("decode node CIDR: %w", err)
	}
	p, err := netip.ParsePrefix(r.CIDR)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("decode node CIDR: %w", err)
	}
	return p, nil
}
