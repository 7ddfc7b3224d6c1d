package netns

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Dir is where named network namespaces are bind-mounted, as with
// `ip netns`.
const Dir = "/var/run/netns"

// Path returns the file of the named namespace name under Dir.
func Path(name string) string { return filepath.Join(Dir, name) }

// CheckName fails for a name that cannot be a file directly under Dir.
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 200 || strings.ContainsRune(name, '/') {
		return fmt.Errorf("invalid netns name %q", name)
	}
	return nil
}
