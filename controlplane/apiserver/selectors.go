package apiserver

import (
	"fmt"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// selectors are a request's label and field selectors.
type selectors struct {
	res   resources.Resource
	label labels.Selector
	field fields.Selector
	// visible, when set, hides the objects the requester may not see (a
	// node listing Secrets); see Server.authorize.
	visible func(namespace, name string) bool
}

func (s selectors) matches(obj runtime.Object) bool {
	m := objectMeta(obj)
	if s.visible != nil && !s.visible(m.GetNamespace(), m.GetName()) {
		return false
	}
	if !s.label.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	return s.field.Matches(s.res.FieldSet(obj, m.GetName(), m.GetNamespace()))
}

func parseSelectors(q url.Values, res resources.Resource) (selectors, error) {
	ls, err := labels.Parse(q.Get("labelSelector"))
	if err != nil {
		return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("unable to parse labelSelector: %v", err))
	}
	fs, err := fields.ParseSelector(q.Get("fieldSelector"))
	if err != nil {
		return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("unable to parse fieldSelector: %v", err))
	}
	for _, req := range fs.Requirements() {
		if !res.SupportsField(req.Field) {
			return selectors{}, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return selectors{res: res, label: ls, field: fs}, nil
}
