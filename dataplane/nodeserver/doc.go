// Package nodeserver is the node agent's authenticated HTTPS API, the
// part of a kubelet's API the API server proxies kubectl to: container
// logs, exec, attach and port-forward, plus handlers other packages mount
// (resource metrics).
//
// It listens on the node's InternalIP (or every address when the node IP
// is not known) at port DefaultPort (10250, the kubelet's), which the
// agent advertises in Node.status.daemonEndpoints.kubeletEndpoint.port.
// The paths are the kubelet's, so the API server builds them as
// kube-apiserver does:
//
//	GET  /containerLogs/{namespace}/{pod}/{container}?follow&previous&tailLines&limitBytes&sinceSeconds&sinceTime&timestamps
//	GET|POST /exec/{namespace}/{pod}/{container}?command=…&input=1&output=1&error=1&tty=1
//	GET|POST /attach/{namespace}/{pod}/{container}?input=1&output=1&error=1&tty=1
//	GET|POST /portForward/{namespace}/{pod}[?port=…]
//
// Authentication: TLS with a serving certificate signed by the cluster CA
// (it names the node IP, so the API server verifies it like any TLS
// server), and a client certificate signed by the same CA is required.
// Authorization: only the API server's identity is admitted, common name
// APIServerUser ("kube-apiserver-kubelet-client") with organization
// system:masters, the identity kubeadm gives kube-apiserver towards its
// kubelets; anything else gets 403. A user never talks to this port
// directly: kubectl goes through the API server, which checks who may
// exec into which pod before it proxies.
//
// The stream protocols are Kubernetes' own, served by
// k8s.io/cri-streaming (the kubelet's streaming server): exec and attach
// speak channel.k8s.io v1-v4 over SPDY and websockets; port-forward speaks
// portforward.k8s.io over SPDY and websockets. kubectl's websocket v5 for
// exec/attach and its SPDY-over-websocket tunnel for port-forward are
// translated to SPDY by the API server (k8s.io/apiserver's proxy
// handlers), as kube-apiserver does.
package nodeserver
