// Package proxy is the data path of the ingress: it accepts client
// connections on the HTTP and HTTPS addresses, finds the route in the
// current [router.Table] and forwards each request to one ready endpoint
// (pod IP:targetPort) of the backend Service.
//
// # Engines
//
// Plain HTTP/1.1 on the HTTP address is served by an event loop (loop*.go):
// one edge-triggered epoll instance per P that owns client and upstream
// sockets, reads only when epoll reported data, parses heads in place
// with package h1 and writes each response head with its body in one
// write — the syscall pattern of nginx, where a goroutine per connection
// pays an extra failed read per socket per request. It serves requests
// without a body or with a Content-Length body and relays responses
// framed by length, chunked or connection close; anything else (HTTP/1.0,
// Upgrade, Expect, chunked uploads, paths that need normalising) is
// handed, with the bytes read so far, to the second engine.
//
// The second engine is github.com/valyala/fasthttp: it serves those
// hand-offs and TLS connections that negotiated http/1.1, parses headers
// into pooled buffers, and keeps a pool of keep-alive upstream
// connections per endpoint. Go's net/http + httputil.ReverseProxy costs
// 4-6x nginx's CPU per request (see BENCHMARKS.md). fasthttp reads its
// connections through a guard (guard.go) that checks the HTTP/1.1
// framing with package h1 first, so both engines refuse the same
// requests with the same codes. TLS connections that negotiate h2 by
// ALPN, and cleartext HTTP/2 when h2c is on (prior knowledge or
// Upgrade: h2c), go to golang.org/x/net/http2's server, under a
// frame-level guard (h2guard.go) that makes it pass h2spec, and to
// httputil.ReverseProxy, which also carries gRPC (an h2c upstream with
// the backend-protocol annotation). Upgrade requests (WebSocket) are
// tunnelled byte for byte after the request head is forwarded.
//
// # Edge limits
//
// Heads are bounded as nginx's large_client_header_buffers 4 8k bound
// them (414, 431), a request body may pause at most BodyTimeout between
// two reads (408), malformed chunked bodies and ambiguous lengths are
// 400, and per-client request rates and connections can be limited per
// Ingress (limits.go). A client's error is never forwarded, never
// counted against the upstream.
//
// # Reload
//
// The route table is immutable and swapped with one atomic store
// ([Proxy.SetTable]); in-flight requests finish on the backend they
// picked, idle client connections stay open, and upstream connection pools
// are kept per endpoint address across reloads.
//
// # Balancing and failure handling
//
// Round-robin per request by default, least-request (power of two random
// choices) by option. A connect failure is retried on another endpoint (at
// most [maxAttempts] tries in all). An idempotent request whose body is
// in memory that gets no response byte back (a pooled keep-alive
// connection the pod had closed, a pod shutting down) is sent again: first
// over a new connection, then to other endpoints, so a rolling update
// never fails a request for that (ingress-nginx#3099); an endpoint that fails [ejectAfter]
// times in a row is skipped for [ejectFor] (passive outlier detection),
// unless every endpoint is ejected. Status codes: 404 no route, 503 no
// ready endpoint, 502 connect failure or reset, 504 upstream timeout, 413
// body too large, 308 redirect to HTTPS for TLS hosts, 408 body timeout,
// 429/503 per-client limits.
//
// All methods of [Proxy] are safe for concurrent use.
package proxy
