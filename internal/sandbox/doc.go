// Package sandbox makes throwaway "nodes" out of Linux network namespaces,
// for the tests, the benchmarks, the demo and `switchyard sandbox`.
//
// Everything it creates lives in namespaces and cgroups it creates itself,
// named with a per-run suffix ([UniqueSuffix]), and is removed again, also
// when a step fails: it never changes the root network namespace (links,
// routes, sysctls, firewall). The only host-wide changes are the bind mounts
// under /var/run/netns (exactly what `ip netns add` does), child cgroups of
// the cgroup v2 hierarchy, and the sandbox registry in /run/switchyard.
//
// # Namespaces
//
// [NewNS] creates a named namespace (/var/run/netns/NAME, with lo up) and
// [NS.Close] deletes it. [NS.Do] runs a function inside the namespace, and
// [Link] joins two namespaces with a veth pair. [NewTestNS] and
// [NewTestCgroup] are the helpers privileged tests use: they skip when not
// root and register the cleanup.
//
// # Threads and goroutines
//
// The network namespace is a property of an OS thread, not of a goroutine
// or a process. [NS.Do] runs fn in a new goroutine locked to its own OS
// thread, switches that thread into the namespace, and switches it back
// afterwards; if switching back fails the thread is left locked so that the
// Go runtime destroys it instead of reusing it for other goroutines. So:
//
//   - Only code running in fn's goroutine is inside the namespace.
//     Goroutines that fn starts run on other threads, in the caller's
//     namespace. Do the namespace-sensitive step (socket, netlink handle,
//     process start) synchronously inside fn.
//   - A socket belongs to the namespace it was created in, for its whole
//     life: a listener made by net.Listen inside fn keeps accepting in that
//     namespace after Do returns, from any goroutine. [NS.Listen] and
//     [NS.DialContext] do exactly that. Name resolution is not guaranteed to
//     happen inside the namespace; dial IP addresses.
//   - A child process inherits the namespace of the thread that forks it, so
//     processes are started inside Do ([StartIn], [NS.Command]). Calling
//     the embedded exec.Cmd's Start directly would start it in the caller's
//     namespace.
//
// Do and the helpers built on it are safe for concurrent use from many
// goroutines (each call gets its own thread). Close is safe to call more
// than once and concurrently with Do; a Do that starts after Close fails
// with [ErrClosed].
//
// # Sandboxes
//
// [Up] boots `switchyard daemon` inside a fresh namespace with its own data
// directory and cgroup, records it in a registry ([DefaultRegistryDir]), and
// waits until its API answers; [Exec] runs a command inside it, [Down]
// stops it and removes everything it created, and [List] shows the
// registered ones. The daemon's API listens on 127.0.0.1 inside the
// namespace, so its clients run inside it too ([Exec]).
package sandbox
