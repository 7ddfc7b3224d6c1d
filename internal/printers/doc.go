// Package printers turns API objects into the server-side tables that
// kubectl and `switchyard get` ask for with
// `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`, and renders such
// tables as text on the client.
//
// Table follows kube-apiserver's printers (k8s.io/kubernetes
// pkg/printers/internalversion): the same columns, the same cell formatting,
// and, as the real server does, it always produces the -o wide columns
// (Priority 1); clients hide them unless asked. Kinds without a printer get
// the generic NAME and AGE columns.
//
// Print renders a table the way kubectl's human-readable printer does.
//
// Everything here is a pure function of its arguments and safe for
// concurrent use; the current time is a parameter so output is testable.
package printers
