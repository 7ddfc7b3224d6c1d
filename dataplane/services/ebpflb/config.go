package ebpflb

import (
	"log/slog"

	"github.com/switchyard-net/switchyard/dataplane/services"
)

// Config configures a Backend.
type Config struct {
	// Cgroup is the cgroup v2 directory the socket hooks attach to (the
	// daemon's --cgroup: pods live in cgroups below it). Required.
	Cgroup string
	// PinDir holds the pinned maps and links:
	// /sys/fs/bpf/switchyard/<node>. Required.
	PinDir string
	// Inner programs everything that does not come from a local socket
	// in Cgroup (node ports and external IPs reached from outside,
	// externalTrafficPolicy, masquerade, processes outside Cgroup, IPv6,
	// SCTP): the nftables backend. It receives every State in full. Nil:
	// socket-level only (tests).
	Inner services.Backend
	// Logger receives warnings. Nil: discard.
	Logger *slog.Logger
}
