// Package controllers runs switchyard's leader-elected controllers: the
// EndpointSlice controller, node pod-CIDR allocation (node IPAM), a simple
// pod scheduler, the periodic allocation repair loops, the workload
// controllers (ReplicaSet, Deployment, DaemonSet; started when the API
// serves apps/v1) and the garbage collector of ownerReferences (every
// kind discovery lists, through the dynamic client).
//
// Every controller talks to the control plane only through client-go: a
// kubernetes.Interface for writes and informers from one
// SharedInformerFactory for reads, exactly as the Kubernetes
// kube-controller-manager and kube-scheduler do, so the same code runs
// against switchyard's API server or a real cluster's. Each controller owns
// a rate-limited typed workqueue of object keys ("namespace/name" or
// "name") and converges the API objects to the desired state in a sync
// function that is idempotent and safe to replay.
//
// Manager.Run campaigns for a coordination.k8s.io/v1 Lease; only the
// holder runs the controllers. A fresh informer factory is built for each
// term of leadership, so caches never outlive the lease that made them
// trustworthy.
package controllers
