package cli

import (
	"errors"
	"fmt"
	"net/url"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestFormatError(t *testing.T) {
	ports := field.NewPath("spec", "ports").Index(0)
	oneInvalid := apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "web", field.ErrorList{
		field.Invalid(ports.Child("port"), 70000, "must be between 1 and 65535, inclusive"),
	})
	twoInvalid := apierrors.NewInvalid(schema.GroupKind{Kind: "Service"}, "bad-port", field.ErrorList{
		field.Invalid(ports.Child("port"), 70000, "must be between 1 and 65535, inclusive"),
		field.NotSupported(ports.Child("protocol"), "HTTP", []string{"SCTP", "TCP", "UDP"}),
	})
	notFound := apierrors.NewNotFound(schema.GroupResource{Resource: "services"}, "x")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"not found", notFound, "Error from server (NotFound): services \"x\" not found\n"},
		{"not found with source", addSource("deleting", "web.yaml", notFound),
			"Error from server (NotFound): error when deleting \"web.yaml\": services \"x\" not found\n"},
		{"invalid", oneInvalid,
			"The Service \"web\" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive\n"},
		{"invalid with source keeps the field errors", addSource("creating", "bad.yaml", oneInvalid),
			"The Service \"web\" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive\n"},
		{"invalid, several fields", twoInvalid,
			"The Service \"bad-port\" is invalid:\n" +
				"* spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive\n" +
				"* spec.ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"\n"},
		{"conflict", apierrors.NewConflict(schema.GroupResource{Resource: "services"}, "web", errors.New("the object has been modified")),
			"Error from server (Conflict): Operation cannot be fulfilled on services \"web\": the object has been modified\n"},
		{"unauthorized", apierrors.NewUnauthorized("Unauthorized"), "error: You must be logged in to the server (Unauthorized)\n"},
		{"connection refused", &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api", Err: fmt.Errorf("dial tcp: %w", syscall.ECONNREFUSED)},
			"The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n"},
		{"client error", errors.New(`the server doesn't have a resource type "foo"`), "error: the server doesn't have a resource type \"foo\"\n"},
		{"joined", errors.Join(notFound, errors.Join(errors.New("a"), nil, errors.New("b"))),
			"Error from server (NotFound): services \"x\" not found\nerror: a\nerror: b\n"},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, FormatError(tt.err)); diff != "" {
				t.Errorf("FormatError (-want +got):\n%s", diff)
			}
		})
	}
}
