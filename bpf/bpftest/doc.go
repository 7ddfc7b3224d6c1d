// Package bpftest holds what the privileged tests of the socket
// load-balancer share (package bpf and dataplane/services/ebpflb): a
// sandbox of a network namespace plus a test cgroup, TCP and UDP test
// servers inside it, and clients that run as re-executed copies of the
// test binary placed in the cgroup, because the cgroup socket hooks see
// only sockets made by processes inside it. Tests only; nothing else
// imports it.
package bpftest
