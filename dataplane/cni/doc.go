// Package cni is switchyard's CNI plugin (spec 1.1) and the protocol it
// speaks with the local node agent.
//
// The plugin is thin on purpose. A runtime (containerd, CRI-O, podman,
// cnitool) execs `switchyard-cni` with CNI_COMMAND set; [PluginMain] parses
// the network configuration ([ParseConfig]) and forwards the command to the
// node agent over a unix socket (`agentSocket`, default
// /var/lib/switchyard/cni.sock). The agent allocates the IP and wires the
// veth exactly as it does for the pods it manages itself, so CNI-created
// and agent-managed pods take one code path, and the plugin holds no state
// and no lock of its own.
//
// # Protocol
//
// JSON over HTTP/1.1 over the unix socket; the agent mounts [NewHandler]
// (or runs [Serve]) with its [Backend], the plugin uses [Client]:
//
//	POST /v1/add     AddRequest   → 200, a CNI 1.1.0 result object
//	POST /v1/del     DelRequest   → 204
//	POST /v1/check   CheckRequest → 204
//	POST /v1/gc      GCRequest    → 204
//	GET  /v1/status               → 204
//
// Any failure answers a non-2xx status with a CNI error object
// ({"code":N,"msg":"…","details":"…"}, [types.Error]); the plugin passes the
// code and message through to the runtime unchanged. The HTTP status only
// helps humans with curl: 400 for bad input, 404 for an unknown container,
// 503 for "try again later" and "not available", 500 otherwise.
//
// # Error codes
//
//   - The agent unreachable (socket missing, connection refused, the
//     connection dropped, no answer in time): 11, "try again later", with a
//     message naming the socket. STATUS answers 50 (plugin not available)
//     instead, as the spec asks.
//   - Malformed configuration: 6 (decoding failure); well-formed but wrong:
//     7 (invalid network config); malformed CNI_ARGS: 4.
//   - ADD into the plugin's own network namespace (the runtime's, usually
//     the host's): 8, refused before the agent is asked.
//   - Errors from the [Backend]: a [*types.Error] keeps its code; any other
//     error becomes 999 (internal), or 50 for STATUS.
//
// # DEL
//
// DEL is idempotent on the agent's side: an unknown container, an empty
// CNI_NETNS or a netns that is already gone succeed. When the agent cannot
// be reached, DEL fails with code 11 instead of pretending: a DEL that
// succeeded without the agent would leak the IP and the veth, while a
// failed one is retried by the runtime (kubelet and containerd retry
// sandbox teardown), and anything a runtime gives up on is collected by GC
// from the runtime's list of valid attachments.
//
// # GC
//
// GC requires the spec 1.1 key cni.dev/valid-attachments (the older
// cni.dev/attachments is accepted too). A GC without the list is refused
// with code 7 rather than read as "nothing is valid": `cnitool gc` without
// a keep-list would otherwise release every attachment on the network.
// Only attachments created through CNI on that network are candidates;
// pods the agent manages from the API are never collected by CNI GC.
package cni
