package bpf

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveTakesEmptyParent: removing the last node's pins also removes
// the directory above them (/sys/fs/bpf/switchyard by convention), while
// a parent that still holds another node's pins stays.
func TestRemoveTakesEmptyParent(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "switchyard")
	a, b := filepath.Join(parent, "node-a"), filepath.Join(parent, "node-b")
	for _, d := range []string{a, b} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := Remove(a); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(parent); err != nil {
		t.Fatalf("parent removed while node-b still has pins: %v", err)
	}
	if err := Remove(b); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(parent); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty parent %s left after the last Remove: %v", parent, err)
	}
}
