package crilog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// Writer appends records to a log file, rotating it by size. It is safe
// for concurrent use (the stdout and stderr copiers share one).
type Writer struct {
	path     string
	maxSize  int64
	maxFiles int

	mu   sync.Mutex
	f    *os.File
	size int64
	buf  []byte
	err  error // sticky: the file could not be reopened after a rotation
}

// Create opens (appending) or creates the log at path. When a record
// would grow the file past maxSize bytes (0: no limit), the file is
// rotated: path becomes path.1, path.1 path.2 and so on, keeping maxFiles
// files in all (path included; at least 2 are kept, as kubelet requires).
func Create(path string, maxSize int64, maxFiles int) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &Writer{path: path, maxSize: maxSize, maxFiles: max(maxFiles, 2), f: f, size: st.Size()}, nil
}

// Write records data read from stream at t: each complete line as a full
// record, a remaining tail without newline as a partial one.
func (w *Writer) Write(t time.Time, stream string, data []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(data) > 0 {
		line, rest, full := bytes.Cut(data, []byte{'\n'})
		if err := w.writeLocked(Record{Time: t, Stream: stream, Partial: !full, Content: line}); err != nil {
			return err
		}
		data = rest
	}
	return nil
}

func (w *Writer) writeLocked(r Record) error {
	if w.err != nil {
		return w.err
	}
	w.buf = Append(w.buf[:0], r)
	if w.maxSize > 0 && w.size > 0 && w.size+int64(len(w.buf)) > w.maxSize {
		if err := w.rotateLocked(); err != nil {
			w.err = err
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	if err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}

// rotateLocked shifts path.i to path.i+1 (the oldest falls off) and path
// to path.1, and starts an empty path. A reader following the file keeps
// its descriptor of the old one and notices the new (see Copy).
func (w *Writer) rotateLocked() error {
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	for i := w.maxFiles - 2; i >= 1; i-- {
		err := os.Rename(rotated(w.path, i), rotated(w.path, i+1))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	if err := os.Rename(w.path, rotated(w.path, 1)); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	w.f, w.size = f, 0
	return nil
}

// Close closes the file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Close()
}

func rotated(path string, i int) string { return path + "." + strconv.Itoa(i) }

// Files lists the existing files of the log at path, oldest first: the
// rotated ones (path.N … path.1), then path itself if it exists.
func Files(path string) []string {
	var old []string
	for i := 1; ; i++ {
		p := rotated(path, i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		old = append(old, p)
	}
	var files []string
	for i := len(old) - 1; i >= 0; i-- {
		files = append(files, old[i])
	}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	}
	return files
}

// Remove deletes the log at path and its rotated files.
func Remove(path string) error {
	var errs []error
	for _, f := range Files(path) {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
