package proxy

import (
	"net/url"
	"strings"
	"testing"

	"github.com/switchyard-net/switchyard/ingress/proxy/h1"
)

// FuzzLoopQuery: the event loop's query parameter lookup (used by
// HTTPRoute query matches) never panics and finds what net/url finds, for
// queries net/url accepts and values that fit its buffer.
func FuzzLoopQuery(f *testing.F) {
	for _, s := range []string{"v=b", "a=1&v=%62", "v=a+b&v=c", "v", "v=%zz", "x=1&&v=", "=v&v=1"} {
		f.Add(s, "v")
	}
	f.Fuzz(func(t *testing.T, query, name string) {
		if strings.ContainsAny(query, "; #") || name == "" {
			return
		}
		target := "/p?" + query
		v := &loopView{r: &h1.Request{Target: []byte(target), Path: []byte("/p")}}
		got, ok := v.Query(name)
		want, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		vals, has := want[name]
		if len(vals) > 0 && len(vals[0]) >= len(v.buf) {
			return
		}
		if ok != has || has && string(got) != vals[0] {
			t.Errorf("query %q name %q: got %q, %v; net/url %q, %v", query, name, got, ok, vals, has)
		}
	})
}
