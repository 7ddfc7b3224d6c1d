// Package validation defaults and validates the Kubernetes API objects that
// switchyard's API server stores (k8s.io/api external types: core/v1, apps/v1,
// discovery/v1, networking/v1, coordination/v1), following the rules of the
// Kubernetes API server so that manifests accepted by Kubernetes are accepted
// here and rejected ones fail with the same field paths and error types.
//
// The API server calls Default on every create and update, then Validate
// (old is nil on create). Validate expects a defaulted object: fields that
// Default fills (spec.type, ports[*].protocol, sessionAffinity, ...) are
// reported as Required when empty, exactly as Kubernetes does. Status
// updates (the /status subresource) go through ValidateStatusUpdate instead.
// On a Service update that changes spec.type, PrepareServiceUpdate first
// drops the values the old type needed (node ports, health-check port, ...)
// that the update carried over unchanged, as Kubernetes' strategy does.
//
// Rules come from Kubernetes' pkg/apis/*/validation and pkg/apis/*/v1
// defaults, rewritten against the external types with the building blocks of
// k8s.io/apimachinery (util/validation, util/validation/field,
// api/validation). Where Kubernetes checks a value in its allocators rather
// than in validation (a requested clusterIP inside the service CIDR, a node
// port inside the node-port range) the check lives here too, driven by
// Options, with the allocator's field path and message.
//
// Differences from Kubernetes, on purpose:
//   - Service names (and Ingress backend service names) are DNS-1123 labels,
//     as with Kubernetes' RelaxedServiceNameValidation gate, not DNS-1035.
//   - spec.healthCheckNodePort may be 0 on a LoadBalancer with
//     externalTrafficPolicy Local: switchyard allocates it after validation.
//   - Node ports are also forbidden on ExternalName services.
//
// Each kind's defaults and rules are one row of the kinds table (kinds.go);
// Default, Validate and ValidateStatusUpdate dispatch through it, and a
// kind without a row gets metadata validation only.
//
// Everything here is a pure function of its arguments: safe for concurrent
// use, no I/O, no logging. Default mutates only the object it is given.
package validation
