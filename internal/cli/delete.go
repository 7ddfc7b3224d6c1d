package cli

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/internal/cli/manifest"
)

// DeleteOptions are the flags of Delete.
type DeleteOptions struct {
	// Namespace is the -n flag; empty means the manifest's, else "default".
	Namespace string
	// Paths are the -f manifests whose objects to delete, instead of args.
	Paths []string
	// IgnoreNotFound makes deleting a missing object a success.
	IgnoreNotFound bool
}

// Delete deletes objects like `kubectl delete`: named by args (KIND
// NAME..., or TYPE/NAME...) or by the manifests in o.Paths, with
// propagationPolicy Background, printing `service "web" deleted` for each.
// A failing object does not stop the others; their errors are joined.
func Delete(ctx context.Context, s IOStreams, cfg *rest.Config, args []string, o DeleteOptions) error {
	switch {
	case len(args) > 0 && len(o.Paths) > 0:
		return errors.New("specify objects either as arguments or with -f, not both")
	case len(args) == 0 && len(o.Paths) == 0:
		return errors.New("you must provide one or more resources by argument or filename")
	}
	var items []manifest.Item
	var loadErr error
	if len(o.Paths) > 0 {
		if items, loadErr = manifest.Load(o.Paths, s.In); len(items) == 0 {
			if loadErr != nil {
				return loadErr
			}
			return errors.New("no objects passed to delete")
		}
	}
	c, err := newClients(cfg, s.ErrOut)
	if err != nil {
		return err
	}
	r, err := c.resolve(ctx)
	if err != nil {
		return errors.Join(loadErr, err)
	}
	targets, errs := deleteTargets(r, args, items, o.Namespace)
	errs = append([]error{loadErr}, errs...)
	for _, t := range targets {
		if err := deleteTarget(ctx, c, s, t, o.IgnoreNotFound); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// deleteTargets lists what to delete, from args or from manifest items.
func deleteTargets(r *Resolver, args []string, items []manifest.Item, flagNS string) ([]target, []error) {
	var targets []target
	var errs []error
	for _, it := range items {
		t, err := manifestTarget(r, it, flagNS)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		targets = append(targets, t)
	}
	if len(args) == 0 {
		return targets, errs
	}
	reqs, err := parseGetArgs(r, args)
	if err != nil {
		return nil, append(errs, err)
	}
	for _, req := range reqs {
		if len(req.names) == 0 {
			return nil, append(errs, errors.New("resource(s) were provided, but no name was specified"))
		}
		ns := ""
		if namespaced(req.mapping) {
			ns, _ = objectNamespace("", flagNS)
		}
		for _, name := range req.names {
			targets = append(targets, target{mapping: req.mapping, namespace: ns, name: name})
		}
	}
	return targets, errs
}

func deleteTarget(ctx context.Context, c *clients, s IOStreams, t target, ignoreNotFound bool) error {
	background := metav1.DeletePropagationBackground
	err := t.client(c.dynamic).Delete(ctx, t.name, metav1.DeleteOptions{PropagationPolicy: &background})
	switch {
	case apierrors.IsNotFound(err) && ignoreNotFound:
		return nil
	case err != nil:
		return addSource("deleting", t.source, err)
	}
	fmt.Fprintf(s.Out, "%s %q deleted\n", kindString(t.mapping.GroupVersionKind), t.name)
	return nil
}
