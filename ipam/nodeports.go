package ipam

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// nodePortPrefix holds one key per allocated node port:
// <prefix><PROTO>/<port>.
const nodePortPrefix = keyPrefix + "nodeports/"

// The Kubernetes default node port range.
const (
	DefaultNodePortMin = 30000
	DefaultNodePortMax = 32767
)

// protocols are the node port spaces; each is separate, so TCP/30080 and
// UDP/30080 can belong to different owners.
var protocols = []string{"TCP", "UDP", "SCTP"}

// NodePorts allocates node ports, cluster-wide through etcd, with one
// space per protocol (TCP, UDP, SCTP). Dynamic allocation prefers ports
// above a low static band, as Kubernetes does (see doc.go).
//
// A NodePorts is safe for concurrent use, and any number of them, in any
// number of processes, can share one etcd.
type NodePorts struct {
	min, max int
	spaces   map[string]*space // by protocol; the map is never written after New
}

// NewNodePorts returns the allocator of the ports min through max. Both
// zero selects the default range 30000-32767. It does no I/O.
func NewNodePorts(cli *clientv3.Client, min, max int) (*NodePorts, error) {
	if cli == nil {
		return nil, errors.New("node ports: nil etcd client")
	}
	if min == 0 && max == 0 {
		min, max = DefaultNodePortMin, DefaultNodePortMax
	}
	if min < 1 || max > 65535 || min > max {
		return nil, fmt.Errorf("node ports: invalid range %d-%d", min, max)
	}
	a := &NodePorts{min: min, max: max, spaces: make(map[string]*space)}
	n := max - min + 1
	static := staticBand(n, 32, 128)
	for _, proto := range protocols {
		a.spaces[proto] = &space{
			cli:    cli,
			prefix: nodePortPrefix + proto + "/",
			desc:   fmt.Sprintf("%s node port range %d-%d", proto, min, max),
			n:      n,
			name:   func(i int) string { return strconv.Itoa(min + i) },
			slot:   a.slot,
			bands:  [][2]int{{static, n}, {0, static}},
		}
	}
	return a, nil
}

// Range returns the first and last port of the range.
func (a *NodePorts) Range() (min, max int) { return a.min, a.max }

// Allocate picks a free port of proto ("TCP", "UDP" or "SCTP", any case;
// empty means TCP) and records owner as its holder. It returns an error
// matching ErrFull when none is left.
func (a *NodePorts) Allocate(ctx context.Context, proto string, owner string) (int32, error) {
	sp, err := a.space(proto)
	if err != nil {
		return 0, err
	}
	if err := checkOwner(owner); err != nil {
		return 0, fmt.Errorf("allocate node port: %w", err)
	}
	i, err := sp.allocate(ctx, sp.claimOwner(owner))
	if err != nil {
		return 0, err
	}
	return int32(a.min + i), nil
}

// AllocateSpecific records owner as the holder of port. It fails with
// ErrOutOfRange outside the range and with ErrInUse when another owner
// holds it; it succeeds if owner already holds it.
func (a *NodePorts) AllocateSpecific(ctx context.Context, proto string, port int32, owner string) error {
	sp, err := a.space(proto)
	if err != nil {
		return err
	}
	if err := checkOwner(owner); err != nil {
		return fmt.Errorf("allocate node port: %w", err)
	}
	if int(port) < a.min || int(port) > a.max {
		return errorf(ErrOutOfRange, "port %d is not in %s", port, sp.desc)
	}
	s := strconv.Itoa(int(port))
	return sp.allocateKey(ctx, s, owner, "port "+s)
}

// Release frees port whoever holds it. Releasing a free port, or a valid
// port outside the range (left from an earlier range), succeeds.
func (a *NodePorts) Release(ctx context.Context, proto string, port int32) error {
	sp, err := a.space(proto)
	if err != nil {
		return err
	}
	if port < 1 || port > 65535 {
		return errorf(ErrOutOfRange, "port %d is not in %s", port, sp.desc)
	}
	return sp.release(ctx, strconv.Itoa(int(port)))
}

// ReleaseIfOwner frees port only if owner holds it. A free port succeeds;
// one held by another owner is left and reported as ErrInUse.
func (a *NodePorts) ReleaseIfOwner(ctx context.Context, proto string, port int32, owner string) error {
	sp, err := a.space(proto)
	if err != nil {
		return err
	}
	if port < 1 || port > 65535 {
		return errorf(ErrOutOfRange, "port %d is not in %s", port, sp.desc)
	}
	s := strconv.Itoa(int(port))
	return sp.releaseIfOwner(ctx, s, owner, "port "+s)
}

// List returns every allocated port as "PROTO/port" -> owner, including
// ports outside the range left from an earlier one, for repair and garbage
// collection. An entry whose stored value cannot be decoded has an empty
// owner.
func (a *NodePorts) List(ctx context.Context) (map[string]string, error) {
	m := make(map[string]string)
	for _, proto := range protocols {
		owners, err := a.spaces[proto].owners(ctx)
		if err != nil {
			return nil, err
		}
		for s, owner := range owners {
			if port, err := strconv.Atoi(s); err == nil && port >= 1 && port <= 65535 {
				m[proto+"/"+strconv.Itoa(port)] = owner
			}
		}
	}
	return m, nil
}

// space returns the space of proto.
func (a *NodePorts) space(proto string) (*space, error) {
	if proto == "" {
		proto = "TCP"
	}
	sp, ok := a.spaces[strings.ToUpper(proto)]
	if !ok {
		return nil, fmt.Errorf("node ports: unsupported protocol %q", proto)
	}
	return sp, nil
}

// slot maps a key suffix (a port number) to its bitmap slot.
func (a *NodePorts) slot(suffix string) (int, bool) {
	port, err := strconv.Atoi(suffix)
	if err != nil || port < a.min || port > a.max {
		return 0, false
	}
	return port - a.min, true
}
