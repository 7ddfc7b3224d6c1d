package cli

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
)

// watch prints the current state of one request, then every change, until
// ctx is cancelled or the server ends the watch (both a success).
func (g *getter) watch(ctx context.Context, req getRequest) error {
	opts := g.watchOptions(req)
	ns := g.namespace(req.mapping)
	if g.o.Output != "" && g.o.Output != "wide" {
		return g.watchObjects(ctx, req, ns, opts)
	}
	t, err := g.c.getTable(ctx, req.mapping, ns, "", opts)
	if err != nil {
		return err
	}
	printed := len(t.Rows) > 0
	if !printed {
		g.noneFound()
	} else if err := g.print(t, false); err != nil {
		return err
	}
	var a aligner
	a.observe(t, g.o.AllNamespaces)
	opts.ResourceVersion = t.ResourceVersion
	return g.c.watchTable(ctx, req.mapping, ns, opts, func(t *metav1.Table) error {
		if len(t.Rows) == 0 {
			return nil
		}
		a.pad(t, g.o.Output == "wide", g.o.AllNamespaces)
		err := g.print(t, printed)
		printed = true
		return err
	})
}

// watchObjects is watch for -o yaml|json|name: each object in full, YAML
// documents separated by `---`.
func (g *getter) watchObjects(ctx context.Context, req getRequest, ns string, opts metav1.ListOptions) error {
	ri := target{mapping: req.mapping, namespace: ns}.client(g.c.dynamic)
	gvk := req.mapping.GroupVersionKind
	list, err := ri.List(ctx, opts)
	if err != nil {
		return err
	}
	n := 0
	emit := func(obj *unstructured.Unstructured) error {
		obj.SetGroupVersionKind(gvk)
		if g.o.Output == "yaml" && n > 0 {
			fmt.Fprintln(g.s.Out, "---")
		}
		n++
		return printObjects(g.s.Out, g.o.Output, []unstructured.Unstructured{*obj}, true)
	}
	for i := range list.Items {
		if err := emit(&list.Items[i]); err != nil {
			return err
		}
	}
	opts.ResourceVersion, opts.Watch = list.GetResourceVersion(), true
	w, err := ri.Watch(ctx, opts)
	if err != nil {
		if contextDone(ctx, err) {
			return nil
		}
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			switch ev.Type {
			case watch.Error:
				return apierrors.FromObject(ev.Object)
			case watch.Bookmark:
				continue
			}
			obj, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				return fmt.Errorf("watch: unexpected object %T", ev.Object)
			}
			if err := emit(obj); err != nil {
				return err
			}
		}
	}
}
