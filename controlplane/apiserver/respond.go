package apiserver

import (
	"errors"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var statusGVK = schema.GroupVersionKind{Version: "v1", Kind: "Status"}

// writeObject encodes obj in the negotiated format.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	out := negotiate(r)
	if out.table && isTableable(obj) {
		t, err := s.toTable(obj, out.includeObject)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		obj = t
		out.media = mediaJSON
	}
	s.encode(w, code, out.media, obj)
}

func (s *Server) encode(w http.ResponseWriter, code int, media string, obj runtime.Object) {
	if media == mediaProtobuf && !protobufCapable(obj) {
		media = mediaJSON
	}
	w.Header().Set("Content-Type", media)
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(code)
	if err := s.codecs.encoder(media).Encode(obj, w); err != nil {
		s.log.Debug("encode response", "err", err)
	}
}

// writeError answers with a metav1.Status. Errors that are not API status
// errors become 500 Internal Error and are logged.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
		se = apierrors.NewInternalError(err)
	}
	st := se.Status()
	st.Kind, st.APIVersion = statusGVK.Kind, statusGVK.Version
	code := int(st.Code)
	if code == 0 {
		code = http.StatusInternalServerError
	}
	media := negotiate(r).media
	s.encode(w, code, media, &st)
}

func addWarnings(w http.ResponseWriter, warnings []string) {
	for _, msg := range warnings {
		msg = strings.ReplaceAll(msg, `"`, `'`)
		w.Header().Add("Warning", `299 - "`+msg+`"`)
	}
}

func errNotServed(gv schema.GroupVersion, what string) error {
	return apierrors.NewNotFound(schema.GroupResource{Group: gv.Group, Resource: what}, "")
}

func statusSuccess(details *metav1.StatusDetails) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details:  details,
	}
}
