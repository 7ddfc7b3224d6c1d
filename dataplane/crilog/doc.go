// Package crilog writes and reads container logs in the CRI log format,
// the files kubelet serves `kubectl logs` from:
//
//	2026-12-07T21:00:00.123456789Z stdout F a whole line
//	2026-12-07T21:00:00.223456789Z stderr P the start of a line that
//	2026-12-07T21:00:00.323456789Z stderr F  continues here
//
// Each record is a timestamp (RFC 3339 with nanoseconds, UTC), the
// stream, a tag (F: this record ends a line, P: a partial line the next
// record of the stream continues) and the content without its newline.
// Keeping a time per record is what lets a reader answer `--timestamps`,
// `--since` and `--since-time`; keeping the stream is what keeps stdout
// and stderr apart.
//
// [Writer] appends records and rotates by size the way kubelet's
// containerLogMaxSize and containerLogMaxFiles do (path, path.1, …,
// path.N-1, oldest last), so a chatty container cannot fill the disk.
// [Copy] reads a log and its rotated predecessors with kubelet's log
// options (timestamps, since, tail, limit-bytes, follow across
// rotations); a line that is not a record is passed through whole, so a
// damaged file loses nothing.
package crilog
