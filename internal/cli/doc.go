// Package cli implements switchyard's kubectl-like client commands — apply,
// get, delete and version — against any Kubernetes-compatible API server,
// the switchyard control plane first of all.
//
// It talks to the server only through client-go (discovery, the dynamic
// client and a REST client for server-side Tables), so it works against a
// real cluster too. Output and error messages follow kubectl's, so scripts
// and habits carry over: `service/web created`, `service "web" deleted`,
// `Error from server (NotFound): services "x" not found`.
//
// Every command takes an IOStreams and returns an error; none exits the
// process. A command that reports per-object failures (apply, delete, get
// with several names) still returns them all, joined; FormatError renders
// any of them as kubectl would.
package cli
