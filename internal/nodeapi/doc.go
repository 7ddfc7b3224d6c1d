// Package nodeapi is the node agent's local API on a unix socket
// (<data-dir>/agent.sock): container logs and exec into running pods, for
// `switchyard logs` and `switchyard exec` run on the node.
//
// Kubernetes routes these through the API server to the kubelet with SPDY
// or WebSockets; switchyard's pods are host processes on the node the
// command runs on, so a small local protocol does: GET /v1/logs streams a
// log file (following it on request), and /v1/exec upgrades the connection
// and multiplexes stdin, stdout, stderr and the exit code in frames of
// [1 byte stream][4 bytes big-endian length][payload].
package nodeapi
