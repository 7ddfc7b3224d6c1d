package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// writeJSON writes v to path as indented JSON with a final newline,
// creating path's directory. Every result's WriteJSON uses it.
func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
