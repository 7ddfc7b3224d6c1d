// Package manifest decodes Kubernetes manifests — YAML (one or many
// documents separated by `---`), JSON (one or many concatenated objects) and
// `kind: List` wrappers — into unstructured objects, and reads them from
// files, directories and standard input the way `kubectl apply -f` does.
//
// It knows nothing about the server: it checks only what every object needs
// (an object with apiVersion and kind, and well-formed metadata) and leaves
// the rest to the API's validation.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// DocumentError is a problem with one document of a manifest. Index is the
// 1-based position of the document in its source; Item, when not zero, is the
// 1-based position of the offending entry of a List document.
type DocumentError struct {
	Source string
	Index  int
	Item   int
	Err    error
}

func (e *DocumentError) Error() string {
	if e.Item > 0 {
		return fmt.Sprintf("error parsing %s: document %d: item %d: %v", e.Source, e.Index, e.Item, e.Err)
	}
	return fmt.Sprintf("error parsing %s: document %d: %v", e.Source, e.Index, e.Err)
}

func (e *DocumentError) Unwrap() error { return e.Err }

// Decode reads every object from r. source names r in errors (a file name or
// "STDIN"). Empty documents are skipped; List documents are expanded into
// their items, in order.
//
// Decode returns the objects of every well-formed document even when others
// are bad; the error then joins one *DocumentError per bad document. A JSON
// stream that is not well-formed cannot be split, so decoding stops there.
func Decode(r io.Reader, source string) ([]*unstructured.Unstructured, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", source, err)
	}
	if isJSON(data) {
		if objs, err, ok := decodeJSONStream(data, source); ok {
			return objs, err
		}
	}
	return decodeYAML(data, source)
}

// isJSON reports whether data looks like a stream of JSON objects. A YAML
// flow mapping also starts with '{'; decodeJSONStream falls back for it.
func isJSON(data []byte) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{'
}

// decodeJSONStream decodes concatenated JSON values. ok is false when the
// first value is not JSON at all, so the caller should try YAML instead.
func decodeJSONStream(data []byte, source string) (objs []*unstructured.Unstructured, err error, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var errs []error
	for index := 1; ; index++ {
		var raw json.RawMessage
		if derr := dec.Decode(&raw); derr == io.EOF {
			break
		} else if derr != nil {
			if index == 1 {
				return nil, nil, false
			}
			errs = append(errs, &DocumentError{Source: source, Index: index, Err: derr})
			break
		}
		got, derr := decodeDocument(raw, source, index)
		objs = append(objs, got...)
		if derr != nil {
			errs = append(errs, derr)
		}
	}
	return objs, errors.Join(errs...), true
}

func decodeYAML(data []byte, source string) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	var errs []error
	for i, doc := range splitYAML(data) {
		index := i + 1
		// Pad with the lines before the document so that the YAML parser's
		// line numbers are the file's.
		padded := append(bytes.Repeat([]byte("\n"), doc.line-1), doc.text...)
		js, err := yaml.YAMLToJSON(padded)
		if err != nil {
			errs = append(errs, &DocumentError{Source: source, Index: index, Err: err})
			continue
		}
		got, err := decodeDocument(js, source, index)
		objs = append(objs, got...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return objs, errors.Join(errs...)
}

// decodeDocument turns one JSON document into objects: none for null, the
// items of a List, or the object itself.
func decodeDocument(js []byte, source string, index int) ([]*unstructured.Unstructured, error) {
	var v any
	if err := utiljson.Unmarshal(js, &v); err != nil {
		return nil, &DocumentError{Source: source, Index: index, Err: err}
	}
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &DocumentError{Source: source, Index: index, Err: fmt.Errorf("expected an object, got %s", typeName(v))}
	}
	if err := checkObject(m); err != nil {
		return nil, &DocumentError{Source: source, Index: index, Err: err}
	}
	if !isList(m) {
		return []*unstructured.Unstructured{{Object: m}}, nil
	}
	return listItems(m, source, index)
}

func listItems(list map[string]any, source string, index int) ([]*unstructured.Unstructured, error) {
	items, _ := list["items"].([]any)
	var objs []*unstructured.Unstructured
	var errs []error
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, &DocumentError{Source: source, Index: index, Item: i + 1, Err: fmt.Errorf("expected an object, got %s", typeName(item))})
			continue
		}
		if err := checkObject(m); err != nil {
			errs = append(errs, &DocumentError{Source: source, Index: index, Item: i + 1, Err: err})
			continue
		}
		if isList(m) {
			errs = append(errs, &DocumentError{Source: source, Index: index, Item: i + 1, Err: errors.New("nested lists are not supported")})
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs, errors.Join(errs...)
}

// isList reports whether m is a list wrapper (kind List, or any *List kind
// with an items array, as `kubectl get -o yaml` writes them).
func isList(m map[string]any) bool {
	kind, _ := m["kind"].(string)
	if !strings.HasSuffix(kind, "List") {
		return false
	}
	items, present := m["items"]
	if !present || items == nil {
		return kind == "List"
	}
	_, ok := items.([]any)
	return ok
}

// checkObject checks what every object needs before it can be sent: string
// apiVersion and kind, and metadata of the right shape, so the unstructured
// accessors never silently drop a value.
func checkObject(m map[string]any) error {
	var missing []string
	for _, key := range []string{"apiVersion", "kind"} {
		s, ok := m[key].(string)
		if _, present := m[key]; present && !ok {
			return fmt.Errorf("%s must be a string, got %s", key, typeName(m[key]))
		}
		if s == "" {
			missing = append(missing, key+" not set")
		}
	}
	if len(missing) > 0 {
		return errors.New(strings.Join(missing, ", "))
	}
	if isList(m) {
		if items, ok := m["items"]; ok && items != nil {
			if _, ok := items.([]any); !ok {
				return fmt.Errorf("items must be a list, got %s", typeName(items))
			}
		}
		return nil
	}
	return checkMetadata(m["metadata"])
}

func checkMetadata(v any) error {
	if v == nil {
		return nil
	}
	md, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("metadata must be an object, got %s", typeName(v))
	}
	for _, key := range []string{"name", "namespace", "generateName"} {
		if val, present := md[key]; present && val != nil {
			if _, ok := val.(string); !ok {
				return fmt.Errorf("metadata.%s must be a string, got %s", key, typeName(val))
			}
		}
	}
	for _, key := range []string{"labels", "annotations"} {
		val, present := md[key]
		if !present || val == nil {
			continue
		}
		strs, ok := val.(map[string]any)
		if !ok {
			return fmt.Errorf("metadata.%s must be an object, got %s", key, typeName(val))
		}
		for k, s := range strs {
			if _, ok := s.(string); !ok {
				return fmt.Errorf("metadata.%s[%q] must be a string, got %s", key, k, typeName(s))
			}
		}
	}
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	default:
		return "number"
	}
}
