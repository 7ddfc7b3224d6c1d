// Package h1 parses HTTP/1.x message heads in place, without allocating,
// for the ingress event loop: a request or response head is read into a
// buffer and the parsed fields are slices of that buffer, so the proxy can
// route on them and copy the head out to the other side in one pass.
//
// It is strict where leniency lets two parsers disagree about where a
// message ends (request smuggling, RFC 9112 section 11.2): obsolete line
// folding, whitespace before the colon, bare CR, conflicting or
// malformed Content-Length and a Transfer-Encoding other than "chunked"
// are errors, and a request that carries both Content-Length and
// Transfer-Encoding is refused. [ParseRequestLimits] also bounds the
// request line and each field line, as nginx's header buffers do.
//
// [ChunkedScanner] finds the end of a chunked body so that the body can
// be relayed verbatim.
package h1
