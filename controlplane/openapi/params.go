package openapi

import "k8s.io/kube-openapi/pkg/common"

// The query parameters kube-apiserver declares, by operation. Only their
// presence matters to clients; kubectl looks for fieldValidation on PATCH
// to decide that the server validates fields itself.

func query(name, dataType, desc string) param {
	return param{name: name, desc: desc, kind: common.QueryParameterKind, dataType: dataType}
}

func pathParam(name, desc string) param {
	return param{name: name, desc: desc, kind: common.PathParameterKind, dataType: "string", required: true}
}

func bodyParam() param {
	return param{name: "body", kind: common.BodyParameterKind, required: true}
}

var (
	paramNamespace = pathParam("namespace", "object name and auth scope, such as for teams and projects")

	paramAllowWatchBookmarks = query("allowWatchBookmarks", "boolean", "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag.")
	paramContinue            = query("continue", "string", "The continue option should be set when retrieving more results from the server.")
	paramFieldSelector       = query("fieldSelector", "string", "A selector to restrict the list of returned objects by their fields. Defaults to everything.")
	paramLabelSelector       = query("labelSelector", "string", "A selector to restrict the list of returned objects by their labels. Defaults to everything.")
	paramLimit               = query("limit", "integer", "limit is a maximum number of responses to return for a list call.")
	paramResourceVersion     = query("resourceVersion", "string", "resourceVersion sets a constraint on what resource versions a request may be served from.")
	paramRVMatch             = query("resourceVersionMatch", "string", "resourceVersionMatch determines how resourceVersion is applied to list calls.")
	paramTimeoutSeconds      = query("timeoutSeconds", "integer", "Timeout for the list/watch call.")
	paramWatch               = query("watch", "boolean", "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.")

	paramDryRun          = query("dryRun", "string", "When present, indicates that modifications should not be persisted. Valid values are: - All: all dry run stages will be processed")
	paramFieldManager    = query("fieldManager", "string", "fieldManager is a name associated with the actor or entity that is making these changes.")
	paramFieldValidation = query("fieldValidation", "string", "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict: fail the request with a BadRequest error on unknown or duplicate fields.")
	paramForce           = query("force", "boolean", "Force is going to \"force\" Apply requests. It must be unset for non-apply patch requests.")

	paramGracePeriod       = query("gracePeriodSeconds", "integer", "The duration in seconds before the object should be deleted. Zero means delete immediately.")
	paramOrphanDependents  = query("orphanDependents", "boolean", "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7.")
	paramPropagationPolicy = query("propagationPolicy", "string", "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'.")
)

// listParams are those of list and watch.
var listParams = []common.Parameter{
	paramAllowWatchBookmarks, paramContinue, paramFieldSelector, paramLabelSelector, paramLimit,
	paramResourceVersion, paramRVMatch, paramTimeoutSeconds, paramWatch,
}

// writeParams are those of create and update.
var writeParams = []common.Parameter{paramDryRun, paramFieldManager, paramFieldValidation}

// patchParams are those of patch.
var patchParams = []common.Parameter{paramDryRun, paramFieldManager, paramFieldValidation, paramForce}

// deleteParams are those of delete and (with the list ones) deletecollection.
var deleteParams = []common.Parameter{paramDryRun, paramGracePeriod, paramOrphanDependents, paramPropagationPolicy}
