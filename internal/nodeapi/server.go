package nodeapi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// ErrNotFound is returned by a Backend for an unknown pod or container.
var ErrNotFound = errors.New("not found")

// Backend is what the node agent implements.
type Backend interface {
	// LogPath is the log file of a container ("" = the pod's first).
	LogPath(namespace, pod, container string) (string, error)
	// Exec runs cmd inside a running container's namespaces and returns
	// its exit code.
	Exec(ctx context.Context, namespace, pod, container string, cmd []string,
		stdin io.Reader, stdout, stderr io.Writer) (int, error)
}

const upgradeProto = "switchyard-exec/1"

// followInterval is how often a followed log is polled for new data.
const followInterval = 200 * time.Millisecond

// NewHandler serves the node API for b.
func NewHandler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/logs", func(w http.ResponseWriter, r *http.Request) { serveLogs(w, r, b) })
	mux.HandleFunc("POST /v1/exec", func(w http.ResponseWriter, r *http.Request) { serveExec(w, r, b) })
	return mux
}

func httpError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, ErrNotFound) {
		code = http.StatusNotFound
	}
	http.Error(w, err.Error(), code)
}

func serveLogs(w http.ResponseWriter, r *http.Request, b Backend) {
	q := r.URL.Query()
	ns, pod, ctr := q.Get("namespace"), q.Get("pod"), q.Get("container")
	path, err := b.LogPath(ns, pod, ctr)
	if err != nil {
		httpError(w, err)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		httpError(w, fmt.Errorf("open log of %s/%s: %w", ns, pod, err))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if _, err := io.Copy(w, f); err != nil || q.Get("follow") != "true" {
		return
	}
	flusher, _ := w.(http.Flusher)
	t := time.NewTicker(followInterval)
	defer t.Stop()
	for {
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		if _, err := io.Copy(w, f); err != nil {
			return
		}
		if _, err := b.LogPath(ns, pod, ctr); err != nil {
			return // the pod is gone: the log ends
		}
	}
}

func serveExec(w http.ResponseWriter, r *http.Request, b Backend) {
	q := r.URL.Query()
	cmd := q["command"]
	if len(cmd) == 0 {
		http.Error(w, "exec needs a command", http.StatusBadRequest)
		return
	}
	if r.Header.Get("Upgrade") != upgradeProto {
		http.Error(w, "exec needs Upgrade: "+upgradeProto, http.StatusUpgradeRequired)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "connection cannot be upgraded", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", upgradeProto)
	if rw.Flush() != nil {
		return
	}
	fw := &frameWriter{w: conn}
	stdinR, stdinW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pumpStdin(rw.Reader, stdinW, cancel)
	code, err := b.Exec(ctx, q.Get("namespace"), q.Get("pod"), q.Get("container"), cmd,
		stdinR, streamWriter{fw, streamStdout}, streamWriter{fw, streamStderr})
	stdinR.Close()
	if err != nil {
		stream := streamError
		if errors.Is(err, ErrNotFound) {
			stream = streamNotFound
		}
		_ = fw.write(stream, []byte(err.Error()))
		return
	}
	var buf [4]byte
	binary.BigEndian.PutUint32(buf[:], uint32(int32(code)))
	_ = fw.write(streamExit, buf[:])
}

// pumpStdin turns the client's stdin frames into the command's stdin; a
// zero-length frame is EOF. If the client goes away the command is
// cancelled.
func pumpStdin(r io.Reader, w *io.PipeWriter, cancel context.CancelFunc) {
	for {
		stream, p, err := readFrame(r)
		if err != nil {
			w.CloseWithError(err)
			cancel()
			return
		}
		if stream != streamStdin {
			continue
		}
		if len(p) == 0 {
			w.Close()
			continue // keep reading: a disconnect still cancels
		}
		if _, err := w.Write(p); err != nil {
			continue // the command closed its stdin; drain
		}
	}
}

// Serve listens on socketPath (mode 0600, replacing a stale socket) and
// serves h until ctx is cancelled.
func Serve(ctx context.Context, socketPath string, h http.Handler) error {
	if err := os.MkdirAll(filepath.Dir(socketPath), 0o700); err != nil {
		return fmt.Errorf("node api socket dir: %w", err)
	}
	if c, err := net.Dial("unix", socketPath); err == nil {
		c.Close()
		return fmt.Errorf("node api socket %s is in use by another process", socketPath)
	}
	_ = os.Remove(socketPath)
	l, err := net.Listen("unix", socketPath)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", socketPath, err)
	}
	defer os.Remove(socketPath)
	if err := os.Chmod(socketPath, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("chmod %s: %w", socketPath, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve node api: %w", err)
	}
	return nil
}
