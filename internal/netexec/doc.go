// Package netexec is the test server that pods run in switchyard's tests,
// demos and benchmarks (`switchyard netexec`), after Kubernetes' agnhost
// netexec. It answers who it is and who is asking, over HTTP and UDP, so a
// test can tell which backend a Service picked and which source address
// reached it (SNAT or not).
//
// # HTTP
//
//	/hostname        the hostname, as plain text (no newline)
//	/clientip        the peer's "ip:port" as the server saw it
//	/echo?msg=X      X (URL-decoded)
//	/healthz         200 "ok"
//	/shutdown        200, then the server stops and [Server.Serve] returns nil
//	/bytes?size=N    N bytes of 'x' (size defaults to Config.ResponseSize, or
//	                 1024 when that is 0; at most [MaxBytes])
//	anything else    a JSON echo of the request: hostname, method, path,
//	                 query, host, proto, headers, client ("ip:port"); or, in
//	                 fixed-size mode (Config.ResponseSize > 0), exactly
//	                 ResponseSize bytes of 'x'
//
// Fixed-size mode is for benchmarks: every path outside the list above
// returns the same body of ResponseSize bytes with a precomputed
// Content-Length, so the backend costs as little as possible and the
// response size is the same whatever URL a load generator uses.
//
// # Termination
//
// On SIGTERM (the end of Serve's context) the server drains for
// --delay-shutdown (Config.ShutdownDelay): it keeps accepting and answering,
// and every answer carries "Connection: close", so a client on a kept-alive
// connection reconnects after an answer (through its Service, to a pod that
// is not terminating) instead of racing the server's close of an idle
// connection. Then it shuts down, finishing in-flight requests. This is
// what a pod must do for zero-failure rolling updates: it cannot know when
// every Service and ingress has stopped sending to it.
//
// # UDP
//
// Each datagram is one command, surrounding whitespace ignored:
// "hostname" answers the hostname, "clientip" the peer's "ip:port", and
// "echo X" answers X. Unknown commands get no answer.
//
// # Cost
//
// The request paths that benchmarks use (/hostname, /clientip, /healthz,
// /bytes, fixed-size mode, and UDP) do not allocate beyond what net/http
// itself does per request; the UDP loop does not allocate at all. See the
// benchmarks in this package.
//
// # Load client
//
// Dial (`switchyard netexec --dial HOST:PORT --hold N --rate R --duration
// D --report FILE`) is the other end: it keeps N keep-alive connections
// busy with a request each per interval and opens R new connections a
// second (one request each), counts every failed connect, failed request
// and wrong answer, and writes a JSON report. The restart-under-load tests
// run it in a pod to prove that an agent restart loses nothing.
//
// # Test images
//
// The package also holds the programs that well-known upstream test
// images map to (dataplane/runner/images): echo-basic, the Gateway API
// conformance backend (echobasic.go), and agnhost's netexec,
// serve-hostname and dns-server (agnhost.go, dnsserver.go), each with the
// image's flags, env vars and answers.
package netexec
