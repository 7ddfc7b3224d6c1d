// Package cnibackend is the node agent's side of the CNI plugin: the
// [cni.Backend] that allocates pod IPs from the node's [podip.Pool] and
// wires containers with [podnet], the same code path as the pods the agent
// manages itself.
//
// # Attachments
//
// A CNI attachment is identified by its container ID and interface name.
// Its IP is held in the pool by the owner "cni:<containerID>/<ifname>"
// ([Owner]); its host-side veth is podnet.VethName("<containerID>/<ifname>")
// ([HostVeth]). Both derive from the attachment alone, so the pool is the
// only state: after an agent restart DEL and GC work from it, and nothing
// else is persisted.
//
// # Network namespaces
//
// podnet reaches pod namespaces by name under /var/run/netns. A CNI_NETNS
// path directly under /var/run/netns (or /run/netns) — what `ip netns`,
// cnitool, containerd and CRI-O use — is passed on by its name. Any other
// path to a network namespace (/proc/<pid>/ns/net, Docker's
// /var/run/docker/netns/…, rootless runtimes' directories) is bind-mounted
// as /var/run/netns/sycni-<pid>-<n> for the duration of the ADD or CHECK
// and unmounted after. A path that is not a network namespace is refused
// with CNI code 4; ADD never creates a namespace. ADD also refuses to take
// over an interface named CNI_IFNAME that is not the peer of the
// attachment's host veth (another plugin's), which podnet would replace.
// The namespace belongs to the runtime: DEL and GC delete only the host
// veth (the kernel deletes its peer), never the namespace.
//
// # Semantics
//
//   - ADD is idempotent per attachment: asking again returns the same
//     address and converges the wiring. If wiring fails after a fresh
//     allocation the address is released again.
//   - DEL succeeds for unknown attachments and gone or empty netns; it
//     deletes the host veth, then releases the address. The kernel takes
//     ~20 ms to delete a veth, so by default DEL returns once the veth is
//     found and hands the deletion and the release to a goroutine that
//     keeps the attachment locked until both are done ([Config.SyncDel]
//     waits instead; [Backend.Close] waits for them). If the agent dies
//     meanwhile, the address stays held and the runtime's next GC, which
//     no longer lists the attachment, collects it.
//   - CHECK compares the runtime's prevResult with the pool (the attachment
//     still owns that address) and with the kernel (podnet.CheckPod).
//   - GC releases every "cni:" owner missing from the valid attachments and
//     deletes its host veth. Owners without the "cni:" prefix (pods the
//     agent manages from the API) are never touched. One agent serves one
//     CNI network, so the request's network name is not compared.
//   - STATUS succeeds when the pool is open and the node bridge exists.
//
// Pool exhaustion is CNI code 11 ("try again later": a DEL or GC may free an
// address) with a message naming the pod CIDR.
//
// # Namespaces of the calls
//
// The kernel dataplane programs the namespace of the calling goroutine's
// thread (see podnet): the daemon runs wholly inside its node namespace;
// tests that keep the test process in the root namespace wrap the Backend
// so that each call runs inside the node namespace.
//
// A Backend is safe for concurrent use; calls for the same attachment are
// serialized.
package cnibackend
