package crilog

import (
	"bytes"
	"errors"
	"fmt"
	"time"
)

// Streams of a record.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Tags of a record: the record ends a line, or a later one continues it.
const (
	tagFull    = 'F'
	tagPartial = 'P'
)

// TimeFormat is how records and `--timestamps` output write times: RFC
// 3339 with a fixed nine-digit fraction (kubelet's RFC3339NanoFixed), so
// lines sort and align. Parsing accepts any RFC 3339 fraction.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Record is one line of a CRI log file.
type Record struct {
	Time    time.Time
	Stream  string // Stdout or Stderr
	Partial bool   // the next record of the stream continues the line
	Content []byte // without the line's newline
}

// ErrMalformed marks a line that is not a CRI log record.
var ErrMalformed = errors.New("malformed CRI log record")

// Parse decodes one record from line (its trailing newline, if any, is
// ignored). Content aliases line.
func Parse(line []byte) (Record, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	var r Record
	ts, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return r, fmt.Errorf("%w: no stream after the time", ErrMalformed)
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return r, fmt.Errorf("%w: time: %w", ErrMalformed, err)
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		return r, fmt.Errorf("%w: no tag after the stream", ErrMalformed)
	}
	switch string(stream) {
	case Stdout:
		r.Stream = Stdout
	case Stderr:
		r.Stream = Stderr
	default:
		return r, fmt.Errorf("%w: stream %q", ErrMalformed, stream)
	}
	// The tag may grow colon-separated fields (CRI reserves them); the
	// first is F or P. Content may be empty: "… stdout F" is an empty line.
	tag, content, _ := bytes.Cut(rest, []byte{' '})
	first, _, _ := bytes.Cut(tag, []byte{':'})
	switch string(first) {
	case string(tagFull):
	case string(tagPartial):
		r.Partial = true
	default:
		return r, fmt.Errorf("%w: tag %q", ErrMalformed, tag)
	}
	r.Time, r.Content = t, content
	return r, nil
}

// Append appends the encoding of r, newline included, to dst.
func Append(dst []byte, r Record) []byte {
	dst = r.Time.UTC().AppendFormat(dst, TimeFormat)
	dst = append(dst, ' ')
	dst = append(dst, r.Stream...)
	if r.Partial {
		dst = append(dst, ' ', tagPartial, ' ')
	} else {
		dst = append(dst, ' ', tagFull, ' ')
	}
	dst = append(dst, r.Content...)
	return append(dst, '\n')
}
