package cnibackend

import (
	"context"
	"fmt"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/switchyard-net/switchyard/dataplane/cni"
)

// Del deletes the attachment's host veth and releases its address. An
// unknown attachment, an empty CNI_NETNS or a gone namespace succeed.
// Unless Config.SyncDel, the deletion and the release finish in the
// background (see Close); the attachment stays locked until they do, so a
// later call for it waits, and the address is never free while the veth
// still answers for it.
func (b *Backend) Del(ctx context.Context, req cni.DelRequest) error {
	owner := Owner(req.ContainerID, req.IfName)
	unlock := b.lock(owner)
	name, _ := underNetNSDir(req.NetNS) // "" when unknown: the kernel does not need it
	del, err := b.links.DeleteHostVeth(ctx, name, HostVeth(req.ContainerID, req.IfName))
	if err != nil || del == nil || b.sync {
		defer unlock()
		return b.detach(owner, del, err)
	}
	b.bg.Add(1)
	go func() {
		defer b.bg.Done()
		defer unlock()
		if err := b.detach(owner, del, nil); err != nil {
			b.log.Error("DEL in the background; GC will retry", "owner", owner, "err", err)
		}
	}()
	return nil
}

// detach runs del (unless nil), then releases owner's address: in that
// order, so the address is never free while a veth answers for it. prep
// is the error of preparing del. Called with owner's lock held.
func (b *Backend) detach(owner string, del func() error, prep error) error {
	if prep == nil && del != nil {
		prep = del()
	}
	if prep != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("detach %s: %v", owner, prep), "")
	}
	if err := b.pool.Release(owner); err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("detach %s: %v", owner, err), "")
	}
	return nil
}

// GC detaches every CNI attachment not in req.ValidAttachments. Other
// owners of the pool (agent-managed pods) are never touched.
func (b *Backend) GC(ctx context.Context, req cni.GCRequest) error {
	valid := make(map[string]bool, len(req.ValidAttachments))
	for _, a := range req.ValidAttachments {
		valid[Owner(a.ContainerID, a.IfName)] = true
	}
	var failed []string
	n := 0
	for owner := range b.pool.List() {
		if !isCNIOwner(owner) || valid[owner] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return types.NewError(types.ErrTryAgainLater, "GC interrupted", err.Error())
		}
		if err := b.collect(ctx, owner); err != nil {
			b.log.Warn("GC", "owner", owner, "err", err)
			failed = append(failed, owner)
			continue
		}
		n++
	}
	if n > 0 {
		b.log.Info("GC released CNI attachments", "count", n, "valid", len(valid))
	}
	if len(failed) > 0 {
		return types.NewError(types.ErrInternal, fmt.Sprintf("GC: %d of %d attachments not released", len(failed), n+len(failed)), fmt.Sprint(failed))
	}
	return nil
}

// collect detaches one attachment found in the pool by its owner.
func (b *Backend) collect(ctx context.Context, owner string) error {
	defer b.lock(owner)()
	if _, ok := b.pool.Lookup(owner); !ok { // DEL'd meanwhile
		return nil
	}
	del, err := b.links.DeleteHostVeth(ctx, "", vethOfOwner(owner))
	return b.detach(owner, del, err)
}
