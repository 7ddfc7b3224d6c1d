package openapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkBuild measures building the v2 and v3 documents (NewHandler's
// work at startup).
func BenchmarkBuild(b *testing.B) {
	for b.Loop() {
		if _, err := Build(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFirstServe measures startup plus the first request for every
// document and encoding, which the handlers encode once and cache.
func BenchmarkFirstServe(b *testing.B) {
	paths := []string{"/openapi/v2"}
	docs, err := Build()
	if err != nil {
		b.Fatal(err)
	}
	for gv := range docs.V3 {
		paths = append(paths, "/openapi/v3/"+gv)
	}
	for b.Loop() {
		h, err := NewHandler()
		if err != nil {
			b.Fatal(err)
		}
		serve(b, h, "/openapi/v3", "application/json")
		for _, p := range paths {
			pb := acceptProtobufV2
			if p != "/openapi/v2" {
				pb = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"
			}
			for _, accept := range []string{"application/json", pb} {
				serve(b, h, p, accept)
			}
		}
	}
}

func serve(b *testing.B, h http.Handler, path, accept string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Accept", accept)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.Len() == 0 {
		b.Fatalf("GET %s (%s): %d", path, accept, rec.Code)
	}
}
