package apiserver

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/switchyard-net/switchyard/internal/printers"
)

func isTableable(obj runtime.Object) bool {
	switch obj.(type) {
	case *metav1.Status, *metav1.Table:
		return false
	}
	return true
}

// toTable renders obj (an object or a list) as a metav1.Table for kubectl's
// and switchyard get's human output.
func (s *Server) toTable(obj runtime.Object, includeObject string) (*metav1.Table, error) {
	t, err := printers.Table(obj, includeObject, time.Now())
	if err != nil {
		return nil, err
	}
	t.Kind, t.APIVersion = "Table", "meta.k8s.io/v1"
	return t, nil
}
