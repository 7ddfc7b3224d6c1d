package validation

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var testOpts = Options{ServiceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}}

// e renders an expected error as "Type path", the way got errors are
// compared.
func e(t field.ErrorType, path string) string { return fmt.Sprintf("%s %s", t, path) }

const (
	required     = field.ErrorTypeRequired
	invalidT     = field.ErrorTypeInvalid
	notSupported = field.ErrorTypeNotSupported
	duplicate    = field.ErrorTypeDuplicate
	forbidden    = field.ErrorTypeForbidden
	notFound     = field.ErrorTypeNotFound
	tooLong      = field.ErrorTypeTooLong
	tooMany      = field.ErrorTypeTooMany
)

func render(errs field.ErrorList) []string {
	out := []string{}
	for _, err := range errs {
		out = append(out, e(err.Type, err.Field))
	}
	return out
}

// expectErrs compares errors by type and field path, in order.
func expectErrs(t *testing.T, errs field.ErrorList, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if diff := cmp.Diff(want, render(errs)); diff != "" {
		t.Errorf("errors (-want +got):\n%s\nfull: %v", diff, errs)
	}
}

// defaultAndValidate runs what the API server runs on a write.
func defaultAndValidate(obj, old runtime.Object, opts Options) field.ErrorList {
	Default(obj)
	return Validate(obj, old, opts)
}

var corev1TypedRef = corev1.TypedLocalObjectReference{APIGroup: ptr("storage.example.com"), Kind: "Bucket", Name: "static"}
