package cni

import (
	"context"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// Paths of the agent protocol (see the package documentation).
const (
	PathAdd    = "/v1/add"
	PathDel    = "/v1/del"
	PathCheck  = "/v1/check"
	PathGC     = "/v1/gc"
	PathStatus = "/v1/status"
)

// AddRequest asks the agent to attach a container to the network.
type AddRequest struct {
	// ContainerID and IfName identify the attachment (CNI_CONTAINERID,
	// CNI_IFNAME); the agent records them as the IP's owner.
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifName"`
	// NetNS is the path of the container's network namespace (CNI_NETNS).
	NetNS string `json:"netns"`
	// Args is CNI_ARGS as a map: K8S_POD_NAMESPACE, K8S_POD_NAME,
	// K8S_POD_UID, K8S_POD_INFRA_CONTAINER_ID, IgnoreUnknown, …
	Args map[string]string `json:"args,omitempty"`
	// Network is the network's name from the config.
	Network string `json:"network"`
	// MTU of the pod interface; 0 means the agent's default (its uplink's).
	MTU int `json:"mtu,omitempty"`
}

// DelRequest asks the agent to detach a container. NetNS may be empty or
// gone; the agent still releases what it holds for ContainerID + IfName.
type DelRequest struct {
	ContainerID string            `json:"containerID"`
	IfName      string            `json:"ifName"`
	NetNS       string            `json:"netns,omitempty"`
	Args        map[string]string `json:"args,omitempty"`
	Network     string            `json:"network"`
}

// CheckRequest asks the agent whether an attachment is still as ADD left it.
type CheckRequest struct {
	ContainerID string            `json:"containerID"`
	IfName      string            `json:"ifName"`
	NetNS       string            `json:"netns"`
	Args        map[string]string `json:"args,omitempty"`
	Network     string            `json:"network"`
	// PrevResult is the result the runtime got from ADD (required).
	PrevResult *current.Result `json:"prevResult"`
}

// GCRequest asks the agent to release every CNI attachment on Network that
// is not in ValidAttachments. ValidAttachments is never nil on the wire (an
// empty list means none is valid).
type GCRequest struct {
	Network          string               `json:"network"`
	ValidAttachments []types.GCAttachment `json:"validAttachments"`
}

// Backend is what the agent implements behind [NewHandler]. Methods are
// called concurrently, one call per plugin invocation.
//
// Errors: return a [*types.Error] to choose the CNI code the runtime sees
// (e.g. 3 unknown container on CHECK, 11 try again later, 50 not ready);
// any other error reaches the runtime as code 999 (50 from Status) with
// its text as the message.
type Backend interface {
	// Add allocates and wires the attachment and returns its result:
	// interfaces (host veth, and the container interface with its MAC and
	// sandbox path), ips (address with mask, gateway, interface index),
	// routes and dns. Add is idempotent per ContainerID + IfName: asking
	// again returns the same address.
	Add(ctx context.Context, req AddRequest) (*current.Result, error)
	// Del undoes Add. It must succeed when the attachment is unknown or
	// its netns is gone or empty.
	Del(ctx context.Context, req DelRequest) error
	// Check verifies the attachment against req.PrevResult.
	Check(ctx context.Context, req CheckRequest) error
	// GC releases CNI attachments on req.Network missing from
	// req.ValidAttachments.
	GC(ctx context.Context, req GCRequest) error
	// Status returns nil when the agent is ready to serve Add.
	Status(ctx context.Context) error
}
