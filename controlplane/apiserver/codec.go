package apiserver

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

const (
	mediaJSON     = "application/json"
	mediaYAML     = "application/yaml"
	mediaProtobuf = "application/vnd.kubernetes.protobuf"
)

// codecs holds the serializers the server speaks. They are stateless and
// shared by all requests.
type codecs struct {
	json       runtime.Serializer
	jsonStrict runtime.Serializer
	yaml       runtime.Serializer
	yamlStrict runtime.Serializer
	protobuf   runtime.Serializer
}

func newCodecs() *codecs {
	s := scheme.Scheme
	return &codecs{
		json:       json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{}),
		jsonStrict: json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Strict: true}),
		yaml:       json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true}),
		yamlStrict: json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{Yaml: true, Strict: true}),
		protobuf:   protobuf.NewSerializer(s, s),
	}
}

// output is the negotiated response format.
type output struct {
	media string // mediaJSON, mediaYAML or mediaProtobuf
	table bool   // as=Table;g=meta.k8s.io
	// includeObject is the Table includeObject policy: None, Metadata, Object.
	includeObject string
}

// negotiate picks the first Accept entry the server can produce. Table
// requests are answered as JSON Tables; an Accept with nothing acceptable
// gets JSON, which every client understands.
func negotiate(r *http.Request) output {
	out := output{media: mediaJSON, includeObject: r.URL.Query().Get("includeObject")}
	if out.includeObject == "" {
		out.includeObject = "Metadata"
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if as := params["as"]; as != "" {
			if as == "Table" && params["g"] == "meta.k8s.io" && (mt == mediaJSON || mt == mediaProtobuf) {
				out.table = true
				return out
			}
			continue // PartialObjectMetadata and others are not served
		}
		switch mt {
		case mediaJSON, "*/*", "application/*":
			return out
		case mediaYAML:
			out.media = mediaYAML
			return out
		case mediaProtobuf:
			out.media = mediaProtobuf
			return out
		}
	}
	return out
}

// protobufCapable says obj has a protobuf encoding. The Gateway API kinds
// have none (in Kubernetes they are custom resources, which speak JSON
// only), so a client accepting protobuf gets JSON for them, as
// kube-apiserver answers for custom resources.
func protobufCapable(obj runtime.Object) bool {
	_, ok := obj.(interface{ Marshal() ([]byte, error) })
	return ok
}

func (c *codecs) encoder(media string) runtime.Encoder {
	switch media {
	case mediaYAML:
		return c.yaml
	case mediaProtobuf:
		return c.protobuf
	}
	return c.json
}

// decodeBody reads a request body into a new object of the expected kind.
// Unknown or duplicate fields are an error for fieldValidation=Strict,
// warnings for Warn (the default) and ignored for Ignore.
func (c *codecs) decodeBody(r *http.Request, into runtime.Object, gvk schema.GroupVersionKind) (warnings []string, err error) {
	mode := r.URL.Query().Get("fieldValidation")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("read body: %v", err))
	}
	if len(body) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d bytes", maxBodyBytes))
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var dec runtime.Decoder
	switch mt {
	case mediaJSON, "":
		dec = c.jsonStrict
	case mediaYAML, "application/x-yaml", "text/yaml":
		dec = c.yamlStrict
	case mediaProtobuf:
		dec = c.protobuf
	default:
		return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, r.Method,
			schema.GroupResource{}, "", fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %s, %s, %s", mediaJSON, mediaYAML, mediaProtobuf), 0, false)
	}
	obj, gotGVK, err := dec.Decode(body, &gvk, into)
	if err != nil && runtime.IsStrictDecodingError(err) {
		switch mode {
		case "Strict":
			return nil, apierrors.NewBadRequest(err.Error())
		case "Ignore":
		default:
			warnings = strictWarnings(err)
		}
		err = nil
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decode %s: %v", gvk.Kind, err))
	}
	if obj != into || *gotGVK != gvk {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s) or kind %q", gotGVK.GroupVersion(), gvk.GroupVersion(), gvk.Kind))
	}
	return warnings, nil
}

func strictWarnings(err error) []string {
	se, ok := runtime.AsStrictDecodingError(err)
	if !ok {
		return []string{err.Error()}
	}
	var out []string
	for _, e := range se.Errors() {
		out = append(out, e.Error())
	}
	return out
}

// maxBodyBytes bounds request bodies (Kubernetes uses 3 MiB for objects).
const maxBodyBytes = 3 << 20
