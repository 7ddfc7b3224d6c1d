// Package netns owns entering, creating and deleting Linux network
// namespaces, on top of github.com/vishvananda/netns. Every package that
// switches a thread into another namespace (pod wiring, the CNI backend,
// the overlay, the BPF socket destroyer, the test sandbox) goes through
// [Do] or [DoFd]; named namespaces under [Dir] are made by [Create] and
// removed by [Delete].
//
// # Why one package
//
// A network namespace is a property of an OS thread, not of a goroutine or
// a process. Switching one safely takes four steps that are easy to get
// subtly wrong when written again in every package:
//
//  1. run on a goroutine of its own, locked to its OS thread, so that no
//     other goroutine is scheduled onto the thread while it is elsewhere
//     (and the caller's own thread never moves);
//  2. remember the thread's namespace, then setns(2) into the target;
//  3. run the work and setns back;
//  4. unlock only if switching back worked. A thread that cannot be
//     restored must die, not return to the runtime's pool, where any
//     goroutine would go on to open sockets in the wrong namespace. A
//     goroutine that exits while still locked takes its thread with it.
//
// Prefer handles bound to a namespace over switching threads: an rtnetlink
// socket made once inside the namespace ([NetlinkHandle]) acts there from
// any thread. netlink.NewHandleAt does the same but unlocks its thread
// even when switching back failed, which is why this package makes its own.
//
// # The calling thread's namespace
//
// Code that acts on "the namespace we are in" (the node namespace of
// dataplane/podnet) does not switch at all: [Here] locks the calling
// goroutine to its thread for the duration of the call, so a caller inside
// [Do] programs that namespace. The pod process shim (dataplane/runner)
// is not built on this package: it enters several kinds of namespaces for
// good, on its only thread, before exec(2).
//
// All functions are safe for concurrent use. They need CAP_SYS_ADMIN.
package netns
