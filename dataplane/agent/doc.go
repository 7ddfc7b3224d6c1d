// Package agent is the node agent: it makes one node of the cluster out of
// the namespace the daemon runs in, driven only by the Kubernetes API.
//
//   - It registers the Node (addresses, capacity, node info, the Ready
//     condition) and keeps it alive: node status and the Lease
//     kube-node-lease/<node> are renewed every HeartbeatInterval.
//   - It waits for the control plane to assign spec.podCIDR, then wires the
//     node (podnet EnsureNode: bridge sy0, forwarding, masquerade) and opens
//     the node's pod IP pool (<data-dir>/pod-ips.db). Ready turns True only
//     then.
//   - It watches the pods bound to the node (field selector spec.nodeName)
//     and, through a rate-limited work queue keyed by pod UID, gives each an
//     IP (pool owner = the pod UID), a network namespace
//     sy-<node>-<first 8 characters of the UID> wired to the bridge, its own
//     resolv.conf and hosts, and its processes (runner). Runner status
//     changes are written back to pod.status (only when something changed).
//   - It caches the cluster's ConfigMaps, Secrets and Services for the
//     runner (env sources, volumes, service link variables); a ConfigMap
//     or Secret change re-syncs the pods of its namespace, whose volumes
//     are then rewritten.
//   - A pod with a deletionTimestamp is stopped (its grace period), unwired,
//     its IP released, and then deleted for good (gracePeriodSeconds=0 with
//     a UID precondition). A pod that vanishes while wired (a force delete)
//     is stopped, unwired and released too.
//   - Once the node is wired it serves, in the data dir, cni.sock (the
//     CNI plugin's agent side, dataplane/cnibackend, sharing the pod IP
//     pool), and the node server on the node IP, port 10250
//     (dataplane/nodeserver: logs, exec, attach and port-forward, which the
//     API server proxies kubectl and `switchyard logs/exec` to), advertised
//     in Node.status.daemonEndpoints.kubeletEndpoint.port.
//   - A pod that cannot be wired (e.g. its node's pod CIDR is full) stays
//     Pending with PodReadyToStartContainers False saying why, and is
//     retried with back-off.
//   - After a restart, once the informer has synced, pods still wired are
//     adopted as they are (same IP from the pool, same namespace, processes
//     re-attached by the runner), and namespaces, pod cgroups and IP
//     allocations of pods that no longer exist are removed (CNI
//     attachments' allocations are left to the CNI GC). An adopted pod the
//     API shows Ready stays Ready while its readiness probe gets its
//     first chance to pass again (see holdReady).
//
// Everything the agent programs lands in the network namespace of the
// calling process (see podnet); [NamedNetNS] lets the caller check that it
// is not about to program a host's namespace by accident.
//
// An Agent is used once: New, then Run until its context ends.
package agent
