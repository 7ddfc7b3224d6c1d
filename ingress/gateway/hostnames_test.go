package gateway

import (
	"slices"
	"testing"
)

// TestHostnameIntersection is the table of the Listener hostname and
// HTTPRoute hostnames documentation: which route hostnames a listener
// hostname admits, and as what.
func TestHostnameIntersection(t *testing.T) {
	tests := []struct {
		listener string
		route    []string
		want     []string // nil: no intersection
	}{
		{"", nil, []string{""}},
		{"", []string{"foo.com"}, []string{"foo.com"}},
		{"foo.com", nil, []string{"foo.com"}},
		{"foo.com", []string{"foo.com", "bar.com"}, []string{"foo.com"}},
		{"foo.com", []string{"*.com"}, []string{"foo.com"}},
		{"foo.com", []string{"bar.com"}, nil},
		{"*.example.com", []string{"foo.example.com"}, []string{"foo.example.com"}},
		{"*.example.com", []string{"a.b.example.com"}, []string{"a.b.example.com"}},
		{"*.example.com", []string{"example.com"}, nil},
		{"*.example.com", []string{"*.foo.example.com"}, []string{"*.foo.example.com"}},
		{"*.example.com", []string{"*.com"}, []string{"*.example.com"}},
		{"*.example.com", []string{"*.example.com"}, []string{"*.example.com"}},
		{"*.example.com", []string{"*.example.org"}, nil},
		{"*.bar.com", []string{"Foo.Bar.com"}, []string{"foo.bar.com"}},
	}
	for _, tt := range tests {
		got, ok := effectiveHostnames(tt.listener, tt.route)
		if ok != (tt.want != nil) || !slices.Equal(got, tt.want) {
			t.Errorf("listener %q route %q = %q, %v; want %q", tt.listener, tt.route, got, ok, tt.want)
		}
	}
}
