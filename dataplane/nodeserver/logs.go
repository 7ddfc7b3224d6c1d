package nodeserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// followInterval is how often a followed log is read for new data.
const followInterval = 200 * time.Millisecond

func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	t, err := parseTarget(r.URL.Path, "containerLogs", true)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	o, err := parseLogOptions(r.URL.Query())
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	if o.Timestamps || o.Since {
		// The runner writes a container's output straight to its log
		// file (so it survives agent restarts) and records no time per
		// line: answering with made-up times would be wrong.
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest,
			"timestamps, sinceSeconds and sinceTime are not supported: switchyard keeps container output without per-line times")
		return
	}
	path, running, err := s.cfg.Backend.ContainerLog(t.Namespace, t.Pod, t.Container, o.Previous)
	if err != nil {
		writeError(w, err)
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && !o.Previous {
		// Not started yet: an empty log, as the kubelet gives.
		f, err = os.Open(os.DevNull)
	}
	if err != nil {
		writeError(w, fmt.Errorf("open log of %s/%s/%s: %w", t.Namespace, t.Pod, t.Container, err))
		return
	}
	defer f.Close()
	if o.TailLines >= 0 {
		st, err := f.Stat()
		if err != nil {
			writeError(w, err)
			return
		}
		off, err := tailStart(f, st.Size(), o.TailLines)
		if err == nil {
			_, err = f.Seek(off, io.SeekStart)
		}
		if err != nil {
			writeError(w, fmt.Errorf("tail log: %w", err))
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	out := io.Writer(w)
	var lw *limitWriter
	if o.LimitBytes > 0 {
		lw = &limitWriter{w: w, left: o.LimitBytes}
		out = lw
	}
	copyLog(r.Context(), f, out, w, o.Follow && !o.Previous, running, func() bool { return lw != nil && lw.left <= 0 })
}

// copyLog copies f to out; with follow it keeps reading new data until
// ctx ends, done reports true or the container stopped running (then
// after one last read).
func copyLog(ctx context.Context, f io.Reader, out io.Writer, w http.ResponseWriter, follow bool, running func() bool, done func() bool) {
	flusher, _ := w.(http.Flusher)
	t := time.NewTicker(followInterval)
	defer t.Stop()
	for {
		alive := follow && running()
		if _, err := io.Copy(out, f); err != nil && !errors.Is(err, errLimit) {
			return
		}
		if !alive || done() {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

var errLimit = errors.New("limitBytes reached")

// limitWriter writes up to left bytes, then fails with errLimit.
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errLimit
	}
	full := len(p)
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	if err == nil && n < full {
		err = errLimit
	}
	return n, err
}

// tailStart returns the offset where the last n lines of r (size bytes)
// begin; a final newline ends the last line rather than starting one.
func tailStart(r io.ReaderAt, size, n int64) (int64, error) {
	if n == 0 {
		return size, nil
	}
	buf := make([]byte, 32<<10)
	var count int64
	for pos := size; pos > 0; {
		chunk := min(int64(len(buf)), pos)
		pos -= chunk
		b := buf[:chunk]
		if _, err := r.ReadAt(b, pos); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' || pos+int64(i) == size-1 {
				continue
			}
			if count++; count == n {
				return pos + int64(i) + 1, nil
			}
		}
	}
	return 0, nil
}
