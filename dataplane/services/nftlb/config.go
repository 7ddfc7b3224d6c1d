package nftlb

import "log/slog"

// Config configures a Backend.
type Config struct {
	// NetNS is the path of the network namespace to program (e.g.
	// /var/run/netns/NAME). Empty: the namespace of the thread calling
	// New, which for the daemon is the node namespace it runs in.
	NetNS string
	// NetNSFd, when > 0, names the namespace by an open file descriptor
	// instead (NetNS is then ignored). The caller keeps it open while the
	// Backend lives and closes it afterwards.
	NetNSFd int
	// Logger receives warnings (a failed incremental sync, before the full
	// resync that follows). Nil: discard.
	Logger *slog.Logger
}
