package cni

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// tmpSeq keeps the temporary socket names of one process apart.
var tmpSeq atomic.Uint64

// Listen creates the agent's unix socket at path with mode 0600 and returns
// its listener; closing the listener removes the socket file (if it is
// still this one). A stale socket left by a dead agent is replaced; a live
// one (another agent answers) or a file that is not a socket is an error.
//
// The socket is created under a temporary name, restricted to 0600 and
// only then renamed into place, so nobody can connect while it is still
// open to all. The parent directory is created (0700) if missing.
func Listen(path string) (net.Listener, error) {
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("cni: socket path %q longer than %d bytes", path, maxSocketPath)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("cni: socket directory: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	tmp := filepath.Join(filepath.Dir(path), fmt.Sprintf(".cni-%d-%d.sock", os.Getpid(), tmpSeq.Add(1)))
	if len(tmp) > maxSocketPath {
		tmp = path // rare: only the final name fits; chmod right after bind.
	}
	os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("cni: listen %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false)
	if err := publish(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("cni: stat %s: %w", path, err)
	}
	return &socketListener{UnixListener: ln, path: path, fi: fi}, nil
}

func publish(tmp, path string) error {
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fmt.Errorf("cni: chmod %s: %w", tmp, err)
	}
	if tmp == path {
		return nil
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("cni: rename socket into %s: %w", path, err)
	}
	return nil
}

// removeStale removes a socket at path that nobody listens on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("cni: %s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("cni: another agent is listening on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("cni: probe existing socket: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cni: remove stale socket: %w", err)
	}
	return nil
}

// socketListener removes its socket file on Close, unless another agent
// has replaced it meanwhile.
type socketListener struct {
	*net.UnixListener
	path string
	fi   os.FileInfo
	once sync.Once
}

func (l *socketListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if fi, statErr := os.Stat(l.path); statErr == nil && os.SameFile(fi, l.fi) {
			os.Remove(l.path)
		}
	})
	return err
}
