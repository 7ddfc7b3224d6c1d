package apiserver

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// allocator keeps what objects of one kind hold in the cluster-wide
// allocators (ClusterIPs and node ports for Services). The write and delete
// paths call it for any kind that has one, so they hold no kind switches.
type allocator interface {
	// carry copies what old holds into an update that left it unset, so a
	// PUT or apply without the allocated values keeps them.
	carry(obj, old runtime.Object)
	// allocate reserves what obj needs and old (nil on create) does not
	// hold yet. undo releases what this call reserved (on a failed write);
	// releaseOld frees what old held and obj no longer does (after a
	// successful write).
	allocate(ctx context.Context, obj, old runtime.Object) (undo, releaseOld func(), err error)
	// release frees what a deleted object held.
	release(ctx context.Context, obj runtime.Object)
}

// newAllocators returns the allocator of each kind that allocates.
func (s *Server) newAllocators() map[schema.GroupResource]allocator {
	return map[schema.GroupResource]allocator{
		corev1.Resource("services"): serviceAllocator{s},
	}
}

// serviceAllocator allocates ClusterIPs and node ports.
type serviceAllocator struct{ s *Server }

func (a serviceAllocator) carry(obj, old runtime.Object) {
	fillAllocated(obj.(*corev1.Service), old.(*corev1.Service))
}

func (a serviceAllocator) allocate(ctx context.Context, obj, old runtime.Object) (func(), func(), error) {
	var oldSvc *corev1.Service
	if old != nil {
		oldSvc = old.(*corev1.Service)
	}
	return a.s.allocateService(ctx, obj.(*corev1.Service), oldSvc)
}

func (a serviceAllocator) release(ctx context.Context, obj runtime.Object) {
	if a.s.cfg.ServiceIPs != nil {
		a.s.releaseExcept(ctx, allocsOf(obj.(*corev1.Service)), serviceAllocs{})
	}
}
