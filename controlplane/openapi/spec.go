package openapi

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/kube-openapi/pkg/builder"
	"k8s.io/kube-openapi/pkg/builder3"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// Documents are the OpenAPI documents of the served API. They are not
// modified after Build and may be read concurrently.
type Documents struct {
	// V2 is the Swagger 2.0 document of every served resource.
	V2 *spec.Swagger
	// V3 maps a group-version's path ("api/v1",
	// "apis/networking.k8s.io/v1") to its OpenAPI 3 document, whose
	// components hold every schema its paths reference.
	V3 map[string]*spec3.OpenAPI
}

var info = &spec.Info{InfoProps: spec.InfoProps{Title: "switchyard", Version: "v1"}}

// Build assembles the documents of the resources in controlplane/resources
// from the generated definitions. An error means a served kind has no
// generated definition: run hack/update-openapi.sh.
func Build() (*Documents, error) {
	served := resources.DiscoverableGroupVersions()
	n := newNamer(served, scheme.Scheme, metricsScheme)
	containers := make([]common.RouteContainer, len(served))
	for i, gv := range served {
		containers[i] = gvContainer(gv)
	}
	v2, err := builder.BuildOpenAPISpecFromRoutes(containers, v2Config(n))
	if err != nil {
		return nil, fmt.Errorf("build openapi v2: %w", err)
	}
	docs := &Documents{V2: v2, V3: map[string]*spec3.OpenAPI{}}
	cfg := v3Config(n)
	for i, gv := range served {
		doc, err := builder3.BuildOpenAPISpecFromRoutes(containers[i:i+1], cfg)
		if err != nil {
			return nil, fmt.Errorf("build openapi v3 %s: %w", gv, err)
		}
		docs.V3[strings.TrimPrefix(rootPath(gv), "/")] = doc
	}
	return docs, nil
}

func v2Config(n *namer) *common.Config {
	return &common.Config{
		ProtocolList:                   []string{"https"},
		Info:                           info,
		CommonResponses:                map[int]spec.Response{http.StatusUnauthorized: {ResponseProps: spec.ResponseProps{Description: "Unauthorized"}}},
		GetDefinitions:                 definitions,
		GetDefinitionName:              n.name,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
	}
}

// v3Config computes the definitions once for all group-versions.
func v3Config(n *namer) *common.OpenAPIV3Config {
	defs := definitions(func(typeName string) spec.Ref {
		name, _ := n.name(typeName)
		return spec.MustCreateRef("#/components/schemas/" + common.EscapeJsonPointer(name))
	})
	return &common.OpenAPIV3Config{
		Info: info,
		CommonResponses: map[int]*spec3.Response{
			http.StatusUnauthorized: {ResponseProps: spec3.ResponseProps{Description: "Unauthorized"}},
		},
		Definitions:                    defs,
		GetDefinitionName:              n.name,
		GetOperationIDAndTagsFromRoute: operationIDAndTags,
	}
}

func operationIDAndTags(r common.Route) (string, []string, error) {
	rt, ok := r.(*route)
	if !ok {
		return "", nil, errors.New("route of unknown type")
	}
	return rt.id, rt.tags, nil
}
