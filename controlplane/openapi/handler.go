package openapi

import (
	"net/http"
	"strings"

	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
)

// NewHandler builds the documents and returns a handler for /openapi/v2,
// /openapi/v3 and /openapi/v3/<group-version>; mount it at "/openapi/".
// Other paths, and group-versions that are not served, answer 404.
func NewHandler() (http.Handler, error) {
	docs, err := Build()
	if err != nil {
		return nil, err
	}
	return docs.Handler(), nil
}

// Handler serves d as NewHandler does, for callers that also use the
// documents for something else (the API server's type converter).
func (d *Documents) Handler() http.Handler {
	docs := d
	mux := http.NewServeMux()
	// kube-openapi's handlers negotiate JSON or protobuf, set ETags and
	// cache the encodings on first use.
	handler.NewOpenAPIService(docs.V2).RegisterOpenAPIVersionedService("/openapi/v2", mux)
	v3 := handler3.NewOpenAPIService()
	for gv, doc := range docs.V3 {
		v3.UpdateGroupVersion(gv, doc)
	}
	mux.HandleFunc("/openapi/v3", v3.HandleDiscovery)
	mux.HandleFunc("/openapi/v3/", func(w http.ResponseWriter, r *http.Request) {
		// handler3 answers an unknown group-version with an empty 200.
		if _, ok := docs.V3[strings.TrimPrefix(r.URL.Path, "/openapi/v3/")]; !ok {
			http.NotFound(w, r)
			return
		}
		v3.HandleGroupVersion(w, r)
	})
	return mux
}
