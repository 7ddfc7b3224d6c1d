package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/internal/printers"
)

// GetOptions are the flags of Get.
type GetOptions struct {
	// Namespace is the -n flag; empty means "default".
	Namespace string
	// AllNamespaces lists namespaced resources across all namespaces.
	AllNamespaces bool
	// Output is "" (a table), "wide", "yaml", "json" or "name".
	Output string
	// LabelSelector and FieldSelector filter lists (-l, --field-selector).
	LabelSelector string
	FieldSelector string
	// Watch prints changes after the initial list until ctx is cancelled or
	// the server ends the watch.
	Watch bool
	// NoHeaders leaves out the table header.
	NoHeaders bool
}

// Outputs are the values GetOptions.Output accepts.
var Outputs = []string{"", "wide", "yaml", "json", "name"}

// getRequest is one resource type to get, and the names asked for (none:
// the list).
type getRequest struct {
	mapping *meta.RESTMapping
	names   []string
}

// Get prints resources like `kubectl get`. args are KIND [NAME...] (KIND
// may be a comma-separated list) or TYPE/NAME.... Tables come from the
// server (server-side printing) and are rendered with printers.Print.
// "No resources found" goes to s.ErrOut. Names that fail (NotFound) do not
// stop the others; their joined errors are returned.
func Get(ctx context.Context, s IOStreams, cfg *rest.Config, args []string, o GetOptions) error {
	if !slices.Contains(Outputs, o.Output) {
		return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,wide,yaml", o.Output)
	}
	c, err := newClients(cfg, s.ErrOut)
	if err != nil {
		return err
	}
	r, err := c.resolve(ctx)
	if err != nil {
		return err
	}
	reqs, err := parseGetArgs(r, args)
	if err != nil {
		return err
	}
	if err := checkGetRequests(reqs, o); err != nil {
		return err
	}
	g := &getter{c: c, s: s, o: o, reqs: reqs}
	switch {
	case o.Watch:
		return g.watch(ctx, reqs[0])
	case o.Output == "" || o.Output == "wide":
		return g.tables(ctx)
	}
	return g.objects(ctx)
}

// parseGetArgs splits the arguments into requests.
func parseGetArgs(r *Resolver, args []string) ([]getRequest, error) {
	if len(args) == 0 {
		return nil, errors.New("you must specify the type of resource to get")
	}
	if slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, "/") }) {
		return parseTypeNames(r, args)
	}
	var reqs []getRequest
	for _, kind := range strings.Split(args[0], ",") {
		m, err := r.Resource(kind)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, getRequest{mapping: m, names: args[1:]})
	}
	return reqs, nil
}

// parseTypeNames reads TYPE/NAME arguments, grouping consecutive names of
// the same type.
func parseTypeNames(r *Resolver, args []string) ([]getRequest, error) {
	var reqs []getRequest
	for _, a := range args {
		kind, name, ok := strings.Cut(a, "/")
		if !ok || kind == "" || name == "" {
			return nil, fmt.Errorf("arguments in resource/name form must have a single resource and name: %q", a)
		}
		m, err := r.Resource(kind)
		if err != nil {
			return nil, err
		}
		if n := len(reqs); n > 0 && reqs[n-1].mapping.Resource == m.Resource {
			reqs[n-1].names = append(reqs[n-1].names, name)
			continue
		}
		reqs = append(reqs, getRequest{mapping: m, names: []string{name}})
	}
	return reqs, nil
}

func checkGetRequests(reqs []getRequest, o GetOptions) error {
	named := slices.ContainsFunc(reqs, func(r getRequest) bool { return len(r.names) > 0 })
	switch {
	case named && o.AllNamespaces:
		return errors.New("a resource cannot be retrieved by name across all namespaces")
	case named && (o.LabelSelector != "" || o.FieldSelector != "") && !o.Watch:
		return errors.New("selectors cannot be used with resource names")
	case o.Watch && (len(reqs) != 1 || len(reqs[0].names) > 1):
		return errors.New("watch is only supported on individual resources and resource collections, but multiple resources were found")
	}
	return nil
}

// getter runs one Get.
type getter struct {
	c    *clients
	s    IOStreams
	o    GetOptions
	reqs []getRequest
}

// namespace is where a request looks: "" for cluster-scoped resources and
// for all namespaces.
func (g *getter) namespace(m *meta.RESTMapping) string {
	switch {
	case !namespaced(m) || g.o.AllNamespaces:
		return ""
	case g.o.Namespace != "":
		return g.o.Namespace
	}
	return DefaultNamespace
}

func (g *getter) listOptions() metav1.ListOptions {
	return metav1.ListOptions{LabelSelector: g.o.LabelSelector, FieldSelector: g.o.FieldSelector}
}

// noneFound tells, like kubectl, that a list came back empty.
func (g *getter) noneFound() {
	ns := g.o.Namespace
	if ns == "" {
		ns = DefaultNamespace
	}
	if g.o.AllNamespaces || !slices.ContainsFunc(g.reqs, func(r getRequest) bool { return namespaced(r.mapping) }) {
		fmt.Fprintln(g.s.ErrOut, "No resources found")
		return
	}
	fmt.Fprintf(g.s.ErrOut, "No resources found in %s namespace.\n", ns)
}

// tables prints each request as a table, a blank line between kinds. With
// several kinds, names are prefixed with their kind as kubectl does.
func (g *getter) tables(ctx context.Context) error {
	var errs []error
	printed, named := false, false
	for _, req := range g.reqs {
		named = named || len(req.names) > 0
		t, err := g.table(ctx, req, &errs)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		if t == nil || len(t.Rows) == 0 {
			continue
		}
		if len(g.reqs) > 1 {
			prefixNames(t, kindString(req.mapping.GroupVersionKind)+"/")
		}
		if printed {
			fmt.Fprintln(g.s.Out)
		}
		printed = true
		if err := g.print(t, false); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	if !printed && !named {
		g.noneFound()
	}
	return errors.Join(errs...)
}

// table fetches one request's table; per-name failures are appended to errs.
func (g *getter) table(ctx context.Context, req getRequest, errs *[]error) (*metav1.Table, error) {
	ns := g.namespace(req.mapping)
	if len(req.names) == 0 {
		return g.c.getTable(ctx, req.mapping, ns, "", g.listOptions())
	}
	var all *metav1.Table
	for _, name := range req.names {
		t, err := g.c.getTable(ctx, req.mapping, ns, name, metav1.ListOptions{})
		if err != nil {
			if !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
				return all, err
			}
			*errs = append(*errs, err)
			continue
		}
		if all == nil {
			all = t
		} else {
			all.Rows = append(all.Rows, t.Rows...)
		}
	}
	return all, nil
}

// print renders a table with the namespace column when listing across
// namespaces.
func (g *getter) print(t *metav1.Table, noHeaders bool) error {
	return printers.Print(g.s.Out, t, g.o.Output == "wide", g.o.AllNamespaces, noHeaders || g.o.NoHeaders)
}

// prefixNames prefixes the cells of the table's name column.
func prefixNames(t *metav1.Table, prefix string) {
	col := slices.IndexFunc(t.ColumnDefinitions, func(c metav1.TableColumnDefinition) bool { return c.Format == "name" })
	if col < 0 {
		col = 0
	}
	for i := range t.Rows {
		if col < len(t.Rows[i].Cells) {
			t.Rows[i].Cells[col] = prefix + fmt.Sprint(t.Rows[i].Cells[col])
		}
	}
}

// objects prints whole objects (-o yaml|json|name).
func (g *getter) objects(ctx context.Context) error {
	var items []unstructured.Unstructured
	var errs []error
	named := false
	for _, req := range g.reqs {
		named = named || len(req.names) > 0
		got, err := g.fetch(ctx, req, &errs)
		items = append(items, got...)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	single := len(g.reqs) == 1 && len(g.reqs[0].names) == 1
	if err := printObjects(g.s.Out, g.o.Output, items, single); err != nil {
		return errors.Join(append(errs, err)...)
	}
	if len(items) == 0 && !named && g.o.Output == "name" {
		g.noneFound()
	}
	return errors.Join(errs...)
}

// fetch gets one request's objects, with their apiVersion and kind set;
// per-name failures are appended to errs.
func (g *getter) fetch(ctx context.Context, req getRequest, errs *[]error) ([]unstructured.Unstructured, error) {
	ri := target{mapping: req.mapping, namespace: g.namespace(req.mapping)}.client(g.c.dynamic)
	gvk := req.mapping.GroupVersionKind
	var items []unstructured.Unstructured
	if len(req.names) == 0 {
		opts := g.listOptions()
		opts.Limit = listLimit
		for {
			list, err := ri.List(ctx, opts)
			if err != nil {
				return items, err
			}
			for _, it := range list.Items {
				it.SetGroupVersionKind(gvk)
				items = append(items, it)
			}
			if opts.Continue = list.GetContinue(); opts.Continue == "" {
				return items, nil
			}
		}
	}
	for _, name := range req.names {
		obj, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
				return items, err
			}
			*errs = append(*errs, err)
			continue
		}
		obj.SetGroupVersionKind(gvk)
		items = append(items, *obj)
	}
	return items, nil
}

// watchOptions are the list options of a watch: the selectors, narrowed to
// the one name asked for.
func (g *getter) watchOptions(req getRequest) metav1.ListOptions {
	opts := g.listOptions()
	if len(req.names) == 1 {
		sel := fields.OneTermEqualSelector("metadata.name", req.names[0]).String()
		if opts.FieldSelector != "" {
			sel = opts.FieldSelector + "," + sel
		}
		opts.FieldSelector = sel
	}
	return opts
}
