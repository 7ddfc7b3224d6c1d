package printers

import (
	"fmt"
	"reflect"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes/scheme"
)

// printer is the table layout of one kind: its columns and how one object
// becomes the cells of a row (one cell per column, wide ones included).
type printer struct {
	columns []metav1.TableColumnDefinition
	row     func(obj runtime.Object, now time.Time) metav1.TableRow
}

// printerOf adapts a typed row function to a printer.
func printerOf[T runtime.Object](columns []metav1.TableColumnDefinition, cells func(T, time.Time) []any) printer {
	return printer{columns: columns, row: func(obj runtime.Object, now time.Time) metav1.TableRow {
		return metav1.TableRow{Cells: cells(obj.(T), now)}
	}}
}

// printerFor returns the printer for objects of type t (a pointer type), or
// the generic NAME/AGE printer.
func printerFor(t reflect.Type) printer {
	if p, ok := byType[t]; ok {
		return p
	}
	return genericPrinter
}

// Table converts a single object or a list (e.g. *corev1.ServiceList) into a
// metav1.Table. Rows carry Object: runtime.RawExtension{Object: <PartialObjectMetadata
// of the item>} when includeObject is "Metadata" or empty (kubectl's
// default), the full object with its apiVersion and kind set for "Object",
// and nothing for "None"; any other value is a BadRequest error.
// ColumnDefinitions with Priority 1 are the -o wide ones: always included,
// clients hide them. ResourceVersion, Continue and RemainingItemCount come
// from the list metadata (ResourceVersion from the object for a single one).
// Unstructured objects of a kind client-go knows are printed as that kind.
func Table(obj runtime.Object, includeObject string, now time.Time) (*metav1.Table, error) {
	switch metav1.IncludeObjectPolicy(includeObject) {
	case metav1.IncludeMetadata, metav1.IncludeObject, metav1.IncludeNone, "":
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unrecognized includeObject value: %q", includeObject))
	}
	obj = typed(obj)
	items, itemType, err := itemsOf(obj)
	if err != nil {
		return nil, err
	}
	for i := range items {
		items[i] = typed(items[i])
		switch typ := reflect.TypeOf(items[i]); {
		case i == 0:
			itemType = typ
		case typ != itemType:
			itemType = nil // a mixed list (e.g. v1.List): print it generically
		}
	}
	p := printerFor(itemType)
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"},
		ColumnDefinitions: p.columns,
		Rows:              make([]metav1.TableRow, 0, len(items)),
	}
	setListMeta(t, obj)
	for _, item := range items {
		row := p.row(item, now)
		if row.Object, err = rowObject(item, includeObject); err != nil {
			return nil, err
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// itemsOf returns the objects of a list, or the object itself, and the
// (pointer) type that chooses their printer when the list is empty.
func itemsOf(obj runtime.Object) ([]runtime.Object, reflect.Type, error) {
	if !meta.IsListType(obj) {
		return []runtime.Object{obj}, reflect.TypeOf(obj), nil
	}
	items, err := meta.ExtractList(obj)
	if err != nil {
		return nil, nil, fmt.Errorf("printers: extract list items: %w", err)
	}
	return items, listItemType(obj), nil
}

// listItemType returns *T for a list whose Items field is []T or []*T, nil
// for anything else.
func listItemType(list runtime.Object) reflect.Type {
	v := reflect.ValueOf(list)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("Items")
	if !f.IsValid() || f.Kind() != reflect.Slice {
		return nil
	}
	et := f.Type().Elem()
	if et.Kind() != reflect.Pointer {
		et = reflect.PointerTo(et)
	}
	return et
}

// typed converts an unstructured object (or list) of a kind in client-go's
// scheme to its typed form, so it gets that kind's columns. Anything else,
// and anything that fails to convert, is returned as is.
func typed(obj runtime.Object) runtime.Object {
	var content map[string]any
	switch u := obj.(type) {
	case *unstructured.Unstructured:
		content = u.Object
	case *unstructured.UnstructuredList:
		content = u.UnstructuredContent()
	default:
		return obj
	}
	out, err := scheme.Scheme.New(obj.GetObjectKind().GroupVersionKind())
	if err != nil {
		return obj
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(content, out); err != nil {
		return obj
	}
	return out
}

func setListMeta(t *metav1.Table, obj runtime.Object) {
	if l, err := meta.ListAccessor(obj); err == nil {
		t.ResourceVersion = l.GetResourceVersion()
		t.Continue = l.GetContinue()
		t.RemainingItemCount = l.GetRemainingItemCount()
		return
	}
	if m, err := meta.Accessor(obj); err == nil {
		t.ResourceVersion = m.GetResourceVersion()
	}
}

// rowObject is what a row carries for the includeObject policy, like
// kube-apiserver's handlers do after the printer ran.
func rowObject(obj runtime.Object, includeObject string) (runtime.RawExtension, error) {
	switch metav1.IncludeObjectPolicy(includeObject) {
	case metav1.IncludeNone:
		return runtime.RawExtension{}, nil
	case metav1.IncludeObject:
		out := obj.DeepCopyObject()
		if out.GetObjectKind().GroupVersionKind().Empty() {
			if gvks, _, err := scheme.Scheme.ObjectKinds(out); err == nil && len(gvks) > 0 {
				out.GetObjectKind().SetGroupVersionKind(gvks[0])
			}
		}
		return runtime.RawExtension{Object: out}, nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return runtime.RawExtension{}, fmt.Errorf("printers: object metadata: %w", err)
	}
	partial := meta.AsPartialObjectMetadata(m)
	partial.SetGroupVersionKind(metav1.SchemeGroupVersion.WithKind("PartialObjectMetadata"))
	return runtime.RawExtension{Object: partial}, nil
}

// age formats the time since t like kubectl's AGE column.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// Column helpers. Descriptions come from the API types' documentation, as
// in kube-apiserver.
var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
)

func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

func wideColumn(name, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "string", Priority: 1, Description: description}
}

var genericColumns = []metav1.TableColumnDefinition{nameColumn, ageColumn}

var genericPrinter = printer{columns: genericColumns, row: func(obj runtime.Object, now time.Time) metav1.TableRow {
	m, err := meta.Accessor(obj)
	if err != nil {
		return metav1.TableRow{Cells: []any{"<unknown>", "<unknown>"}}
	}
	return metav1.TableRow{Cells: []any{m.GetName(), age(m.GetCreationTimestamp(), now)}}
}}
