package podnet

import "context"

// Dataplane is what the node agent drives: the kernel (Kernel) or, in unit
// tests without root, an in-memory Fake. Methods behave as the package's
// functions of the same name.
type Dataplane interface {
	EnsureNode(ctx context.Context, cfg NodeConfig) (Node, error)
	EnsurePod(ctx context.Context, cfg PodConfig) (PodResult, error)
	RemovePod(ctx context.Context, netnsName, hostVeth string) error
	WiredPods(prefix string) ([]Wired, error)
	CheckPod(ctx context.Context, cfg PodConfig) error
}

// Kernel is the Dataplane that programs the calling thread's namespace
// (see the package documentation).
type Kernel struct{}

var (
	_ Dataplane = Kernel{}
	_ Dataplane = (*Fake)(nil)
)

func (Kernel) EnsureNode(ctx context.Context, cfg NodeConfig) (Node, error) {
	return EnsureNode(ctx, cfg)
}

func (Kernel) EnsurePod(ctx context.Context, cfg PodConfig) (PodResult, error) {
	return EnsurePod(ctx, cfg)
}

func (Kernel) RemovePod(ctx context.Context, netnsName, hostVeth string) error {
	return RemovePod(ctx, netnsName, hostVeth)
}

func (Kernel) WiredPods(prefix string) ([]Wired, error) { return WiredPods(prefix) }

func (Kernel) CheckPod(ctx context.Context, cfg PodConfig) error { return CheckPod(ctx, cfg) }
