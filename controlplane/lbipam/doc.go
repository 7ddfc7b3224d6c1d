// Package lbipam gives LoadBalancer Services (and Gateways of class
// switchyard) addresses from the pool of the control plane's --lb-pool
// flag, the way MetalLB's and Cilium's LB-IPAM controllers do on bare
// metal: nothing outside the cluster hands out addresses, so the control
// plane does, and a node agent then announces each address on the node
// network (package dataplane/l2announce).
//
// The pool (Pool) is a set of address ranges; the Allocator is an
// in-memory map from address to owner. The Controller is its only
// writer: it runs under the controller manager's leader lease, so a
// single process allocates at a time, and it rebuilds the map from the
// Services' status.loadBalancer when a term of leadership starts. That is
// why no allocation is persisted on its own: the statuses are the record,
// exactly as for Kubernetes' own service controller.
//
// A Service is handled when its type is LoadBalancer and its
// spec.loadBalancerClass is nil or Class. spec.loadBalancerIP asks for a
// particular address; the API server refuses one outside the pool or held
// by another Service with a field error (CheckRequested), and the
// controller reports the rarer conflicts it can only see later (two
// concurrent requests, a restart that finds two Services claiming the
// same address) as Warning events on the Service that loses.
package lbipam
