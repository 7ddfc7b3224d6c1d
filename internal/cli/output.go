package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// printObjects writes objects as -o yaml, json or name. single prints the
// one object itself (a single NAME was asked for); otherwise yaml and json
// wrap the objects in a `kind: List`, as kubectl does.
func printObjects(w io.Writer, format string, items []unstructured.Unstructured, single bool) error {
	if format == "name" {
		for i := range items {
			printName(w, &items[i])
		}
		return nil
	}
	if single && len(items) == 1 {
		return printObject(w, format, items[0].Object)
	}
	return printObject(w, format, listObject(items))
}

// listObject is the v1 List kubectl prints for several objects.
func listObject(items []unstructured.Unstructured) map[string]any {
	list := make([]any, 0, len(items))
	for _, it := range items {
		list = append(list, it.Object)
	}
	return map[string]any{
		"apiVersion": "v1",
		"kind":       "List",
		"metadata":   map[string]any{"resourceVersion": ""},
		"items":      list,
	}
}

func printName(w io.Writer, obj *unstructured.Unstructured) {
	fmt.Fprintf(w, "%s/%s\n", kindString(obj.GroupVersionKind()), obj.GetName())
}

// printObject writes one value as indented JSON (4 spaces, like kubectl) or
// YAML.
func printObject(w io.Writer, format string, v any) error {
	var out []byte
	var err error
	switch format {
	case "json":
		if out, err = json.MarshalIndent(v, "", "    "); err == nil {
			out = append(out, '\n')
		}
	case "yaml":
		out, err = yaml.Marshal(v)
	default:
		return fmt.Errorf("unknown output format %q", format)
	}
	if err != nil {
		return fmt.Errorf("encode %s: %w", format, err)
	}
	_, err = w.Write(out)
	return err
}
