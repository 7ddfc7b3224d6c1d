package nodeapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

// SocketName is the agent's socket in its data dir, beside
// admin.kubeconfig: the agent listens there and the CLI looks there.
const SocketName = "agent.sock"

// Stream ids of exec frames.
const (
	streamStdin  byte = 0
	streamStdout byte = 1
	streamStderr byte = 2
	streamExit   byte = 3 // payload: 4-byte big-endian exit code
	streamError  byte = 4 // payload: error text; ends the session
	// streamNotFound is streamError for an unknown pod or container, so
	// the client can tell it apart from a command that failed to start.
	streamNotFound byte = 5
	// stdin EOF is a zero-length stdin frame.
)

// maxFrame bounds a frame's payload so a bad peer cannot make us allocate
// without limit.
const maxFrame = 1 << 20

var errFrameTooLarge = errors.New("exec frame too large")

// frameWriter writes frames; it is safe for concurrent use.
type frameWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (f *frameWriter) write(stream byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var hdr [5]byte
	hdr[0] = stream
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(p)))
	if _, err := f.w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := f.w.Write(p)
	return err
}

// streamWriter is an io.Writer sending one stream's frames.
type streamWriter struct {
	f      *frameWriter
	stream byte
}

func (s streamWriter) Write(p []byte) (int, error) {
	for off := 0; off < len(p); off += maxFrame {
		end := min(off+maxFrame, len(p))
		if err := s.f.write(s.stream, p[off:end]); err != nil {
			return off, err
		}
	}
	return len(p), nil
}

// readFrame reads one frame.
func readFrame(r io.Reader) (stream byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("%w: %d bytes", errFrameTooLarge, n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[0], payload, nil
}
