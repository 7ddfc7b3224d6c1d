package resources

// The rbac.authorization.k8s.io/v1 rows (stored like any kind; the API
// server's authorizer reads them) and the review rows of
// authorization.k8s.io/v1 and authentication.k8s.io/v1, which are
// create-only questions to the authorizer and are never stored.

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// createOnly are the verbs of the review kinds.
var createOnly = metav1.Verbs{"create"}

var roles = Resource{
	GVR: gvr("rbac.authorization.k8s.io", "v1", "roles"), Kind: "Role", ListKind: "RoleList", Singular: "role", Namespaced: true,
}

var roleBindings = Resource{
	GVR: gvr("rbac.authorization.k8s.io", "v1", "rolebindings"), Kind: "RoleBinding", ListKind: "RoleBindingList",
	Singular: "rolebinding", Namespaced: true,
}

var clusterRoles = Resource{
	GVR: gvr("rbac.authorization.k8s.io", "v1", "clusterroles"), Kind: "ClusterRole", ListKind: "ClusterRoleList", Singular: "clusterrole",
}

var clusterRoleBindings = Resource{
	GVR: gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"), Kind: "ClusterRoleBinding", ListKind: "ClusterRoleBindingList",
	Singular: "clusterrolebinding",
}

var selfSubjectAccessReviews = Resource{
	GVR: gvr("authorization.k8s.io", "v1", "selfsubjectaccessreviews"), Kind: "SelfSubjectAccessReview",
	Singular: "selfsubjectaccessreview", Review: true, Verbs: createOnly,
}

var subjectAccessReviews = Resource{
	GVR: gvr("authorization.k8s.io", "v1", "subjectaccessreviews"), Kind: "SubjectAccessReview",
	Singular: "subjectaccessreview", Review: true, Verbs: createOnly,
}

var selfSubjectRulesReviews = Resource{
	GVR: gvr("authorization.k8s.io", "v1", "selfsubjectrulesreviews"), Kind: "SelfSubjectRulesReview",
	Singular: "selfsubjectrulesreview", Review: true, Verbs: createOnly,
}

var selfSubjectReviews = Resource{
	GVR: gvr("authentication.k8s.io", "v1", "selfsubjectreviews"), Kind: "SelfSubjectReview",
	Singular: "selfsubjectreview", Review: true, Verbs: createOnly,
}
