package runner

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The layout of a projected volume's directory, after kubelet's atomic
// writer (pkg/volume/util/atomic_writer.go): the files live in a
// timestamped directory ..<time>, the symlink ..data points at it, and
// each top-level name of the payload is a symlink <name> -> ..data/<name>.
// An update writes a new timestamped directory and swaps ..data with one
// rename(2), so a reader sees either the old set of files or the new one,
// never a mix; then the old directory is removed.
const (
	dataLink    = "..data"
	dataLinkTmp = "..data_tmp"
)

// volumeFile is one file of a volume's payload.
type volumeFile struct {
	data []byte
	mode os.FileMode
}

// writeAtomic makes dir hold exactly payload (relative paths, already
// checked to stay inside dir) and reports whether anything changed.
func writeAtomic(dir string, payload map[string]volumeFile) (bool, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("volume dir: %w", err)
	}
	oldTS, _ := os.Readlink(filepath.Join(dir, dataLink))
	if oldTS != "" && samePayload(filepath.Join(dir, oldTS), payload) {
		return false, nil
	}
	ts, err := os.MkdirTemp(dir, ".."+strings.ReplaceAll(nowStamp(), ":", "_")+".")
	if err != nil {
		return false, fmt.Errorf("volume dir: %w", err)
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return false, fmt.Errorf("volume dir: %w", err)
	}
	for rel, f := range payload {
		p := filepath.Join(ts, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return false, fmt.Errorf("volume file %s: %w", rel, err)
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return false, fmt.Errorf("volume file %s: %w", rel, err)
		}
		if err := os.Chmod(p, f.mode); err != nil { // WriteFile's mode is cut by the umask
			return false, fmt.Errorf("volume file %s: %w", rel, err)
		}
	}
	tmp := filepath.Join(dir, dataLinkTmp)
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return false, fmt.Errorf("volume data link: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return false, fmt.Errorf("volume data link: %w", err)
	}
	if err := linkTopLevel(dir, payload); err != nil {
		return true, err
	}
	if oldTS != "" {
		if err := os.RemoveAll(filepath.Join(dir, oldTS)); err != nil {
			return true, fmt.Errorf("remove old volume data: %w", err)
		}
	}
	return true, nil
}

// linkTopLevel makes <name> -> ..data/<name> for every top-level name of
// the payload and removes the links of names no longer in it.
func linkTopLevel(dir string, payload map[string]volumeFile) error {
	want := map[string]bool{}
	for rel := range payload {
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		want[top] = true
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("volume dir: %w", err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") && !want[e.Name()] {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove stale volume link: %w", err)
			}
		}
	}
	for top := range want {
		link := filepath.Join(dir, top)
		if target, err := os.Readlink(link); err == nil && target == filepath.Join(dataLink, top) {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(filepath.Join(dataLink, top), link); err != nil {
			return fmt.Errorf("volume link %s: %w", top, err)
		}
	}
	return nil
}

// samePayload reports whether dir holds exactly payload (content and mode).
func samePayload(dir string, payload map[string]volumeFile) bool {
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		found = append(found, rel)
		want, ok := payload[rel]
		if !ok {
			return errors.New("extra file")
		}
		st, err := d.Info()
		if err != nil || st.Mode().Perm() != want.mode.Perm() {
			return errors.New("mode")
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, want.data) {
			return errors.New("content")
		}
		return nil
	})
	if err != nil || len(found) != len(payload) {
		return false
	}
	return !slices.ContainsFunc(found, func(s string) bool { _, ok := payload[s]; return !ok })
}
