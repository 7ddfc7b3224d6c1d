package ingress

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// accessLog batches JSON access-log lines so that a request costs no
// write system call of its own (nginx's "buffer=" does the same); the
// batch is flushed when 64 KiB fill up and every flushEvery.
type accessLog struct {
	mu sync.Mutex // guards w
	w  *bufio.Writer
}

const flushEvery = 500 * time.Millisecond

func newAccessLog(w io.Writer) (*accessLog, *slog.Logger) {
	a := &accessLog{w: bufio.NewWriterSize(w, 64<<10)}
	return a, slog.New(slog.NewJSONHandler(a, nil)).With("log", "access")
}

func (a *accessLog) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.w.Write(p)
}

func (a *accessLog) flush() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.w.Flush()
}

// run flushes until ctx ends, then once more.
func (a *accessLog) run(ctx context.Context) {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.flush()
		case <-ctx.Done():
			a.flush()
			return
		}
	}
}
