package openapi

import (
	"k8s.io/kube-openapi/pkg/common"
)

// The kube-openapi builders read routes through the common.Route* interfaces
// (kube-apiserver adapts go-restful to them); these plain structs describe
// the switchyard API's routes without a web framework.

// container is one group-version's routes.
type container struct {
	root   string
	routes []common.Route
}

func (c container) RootPath() string                   { return c.root }
func (c container) PathParameters() []common.Parameter { return nil }
func (c container) Routes() []common.Route             { return c.routes }

// route is one operation.
type route struct {
	method, path, id, desc string
	tags                   []string
	params                 []common.Parameter
	consumes, produces     []string
	meta                   map[string]any
	body                   any // a sample of the request body; nil for none
	responses              []common.StatusCodeResponse
}

func (r *route) Method() string                                   { return r.method }
func (r *route) Path() string                                     { return r.path }
func (r *route) OperationName() string                            { return r.id }
func (r *route) Parameters() []common.Parameter                   { return r.params }
func (r *route) Description() string                              { return r.desc }
func (r *route) Consumes() []string                               { return r.consumes }
func (r *route) Produces() []string                               { return r.produces }
func (r *route) Metadata() map[string]any                         { return r.meta }
func (r *route) RequestPayloadSample() any                        { return r.body }
func (r *route) ResponsePayloadSample() any                       { return nil }
func (r *route) StatusCodeResponses() []common.StatusCodeResponse { return r.responses }

// response is one status code's answer; model is a sample of its body.
type response struct {
	code  int
	msg   string
	model any
}

func (r response) Code() int       { return r.code }
func (r response) Message() string { return r.msg }
func (r response) Model() any      { return r.model }

// param is one parameter; dataType is a simple OpenAPI type (string,
// integer, boolean), ignored for body parameters.
type param struct {
	name, desc string
	kind       common.ParameterKind
	dataType   string
	required   bool
}

func (p param) Name() string               { return p.name }
func (p param) Description() string        { return p.desc }
func (p param) Required() bool             { return p.required }
func (p param) Kind() common.ParameterKind { return p.kind }
func (p param) DataType() string           { return p.dataType }
func (p param) AllowMultiple() bool        { return false }

var (
	_ common.RouteContainer     = container{}
	_ common.Route              = (*route)(nil)
	_ common.StatusCodeResponse = response{}
	_ common.Parameter          = param{}
)
