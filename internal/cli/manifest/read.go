package manifest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Stdin is the path that names standard input, and the source its objects
// are reported under.
const (
	Stdin       = "-"
	StdinSource = "STDIN"
)

// Item is one decoded object and the file it came from.
type Item struct {
	Source string
	Object *unstructured.Unstructured
}

// Extensions are the file name endings read from a directory.
var Extensions = []string{".yaml", ".yml", ".json"}

// Load decodes every path in order: a file, a directory (its *.yaml, *.yml
// and *.json files, sorted by name, not recursively) or "-" for stdin.
// Like Decode, it returns every object it could decode along with the
// joined errors of the rest.
func Load(paths []string, stdin io.Reader) ([]Item, error) {
	var items []Item
	var errs []error
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, f := range files {
			got, err := loadOne(f, stdin)
			items = append(items, got...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return items, errors.Join(errs...)
}

// expand turns a path into the files it names.
func expand(p string) ([]string, error) {
	if p == Stdin {
		return []string{p}, nil
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("the path %q does not exist", p)
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{p}, nil
	}
	entries, err := os.ReadDir(p)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if !e.IsDir() && slices.Contains(Extensions, strings.ToLower(filepath.Ext(e.Name()))) {
			files = append(files, filepath.Join(p, e.Name()))
		}
	}
	slices.Sort(files)
	return files, nil
}

func loadOne(path string, stdin io.Reader) ([]Item, error) {
	source, r := path, stdin
	if path == Stdin {
		source = StdinSource
		if stdin == nil {
			return nil, errors.New("no standard input to read")
		}
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	objs, err := Decode(r, source)
	items := make([]Item, 0, len(objs))
	for _, o := range objs {
		items = append(items, Item{Source: source, Object: o})
	}
	return items, err
}
