package runner

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The attach socket of a container's log writer speaks in frames: a kind
// byte, a big-endian uint32 payload length, the payload. The writer sends
// output, the client (the runner's Attach) sends stdin and resizes.
const (
	frameStdout    byte = 1 // output the container wrote to stdout (or its terminal)
	frameStderr    byte = 2 // output to stderr
	frameStdinOpen byte = 3 // the client attaches stdin (payload empty)
	frameStdin     byte = 4 // bytes for the container's stdin
	frameStdinEOF  byte = 5 // the client's stdin ended
	frameResize    byte = 6 // terminal size: width, height as big-endian uint16s
)

// maxFrame bounds a frame's payload; more is a protocol error.
const maxFrame = 1 << 20

var errFrame = errors.New("attach frame")

// appendFrame appends a frame to dst.
func appendFrame(dst []byte, kind byte, payload []byte) []byte {
	dst = append(dst, kind)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	return append(dst, payload...)
}

// readFrame reads one frame; the payload is freshly allocated.
func readFrame(r io.Reader) (kind byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	kind, n := hdr[0], binary.BigEndian.Uint32(hdr[1:])
	if kind < frameStdout || kind > frameResize {
		return 0, nil, fmt.Errorf("%w: unknown kind %d", errFrame, kind)
	}
	if n > maxFrame {
		return 0, nil, fmt.Errorf("%w: payload of %d bytes exceeds %d", errFrame, n, maxFrame)
	}
	if kind == frameResize && n != 4 {
		return 0, nil, fmt.Errorf("%w: resize payload of %d bytes, want 4", errFrame, n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("%w: truncated payload: %w", errFrame, err)
	}
	return kind, payload, nil
}

func resizePayload(s TerminalSize) []byte {
	b := binary.BigEndian.AppendUint16(nil, s.Width)
	return binary.BigEndian.AppendUint16(b, s.Height)
}

func parseResize(p []byte) TerminalSize {
	return TerminalSize{Width: binary.BigEndian.Uint16(p), Height: binary.BigEndian.Uint16(p[2:])}
}
