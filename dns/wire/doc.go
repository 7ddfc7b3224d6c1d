// Package wire is the allocation-free fast path of the cluster DNS server:
// it parses the common query (one question, at most an EDNS0 OPT record in
// the additional section) straight from the packet and assembles answers
// from pre-packed record sections, so that a query for a known name costs
// one map lookup and a few copies.
//
// Pre-packed sections ([Body]) are the bytes that follow the question in
// a response. Records owned by the question name are written with a
// compression pointer to offset 12 (the question), so the same bytes serve
// every spelling of the name and the answer echoes the query's case (DNS
// 0x20). Everything here works on caller-owned buffers and is safe for
// concurrent use.
package wire
