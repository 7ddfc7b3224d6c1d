package serviceaccount

import (
	"strings"
)

// Defaults shared by the issuer and the validator.
const (
	// DefaultIssuer is the "iss" of switchyard's tokens and the API
	// server's default audience: what kubeadm configures
	// (--service-account-issuer) for a cluster.local cluster.
	DefaultIssuer = "https://kubernetes.default.svc.cluster.local"
	// Prefix starts the user name of every service account.
	Prefix = "system:serviceaccount:"
	// AllGroup is the group of every service account; each also belongs to
	// AllGroup + ":" + its namespace.
	AllGroup = "system:serviceaccounts"
)

// Extra keys of a service account's UserInfo, as Kubernetes names them.
const (
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName     = "authentication.kubernetes.io/node-name"
	ExtraNodeUID      = "authentication.kubernetes.io/node-uid"
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
)

// Ref names an object a token speaks for.
type Ref struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// privateClaims is the "kubernetes.io" claim.
type privateClaims struct {
	Kubernetes kubernetesClaims `json:"kubernetes.io"`
}

type kubernetesClaims struct {
	Namespace      string `json:"namespace"`
	ServiceAccount Ref    `json:"serviceaccount"`
	Pod            *Ref   `json:"pod,omitempty"`
	Secret         *Ref   `json:"secret,omitempty"`
	Node           *Ref   `json:"node,omitempty"`
}

// UserName is the user a service account authenticates as.
func UserName(namespace, name string) string {
	return Prefix + namespace + ":" + name
}

// SplitUserName splits system:serviceaccount:NS:NAME; ok is false for any
// other user name.
func SplitUserName(user string) (namespace, name string, ok bool) {
	rest, found := strings.CutPrefix(user, Prefix)
	if !found {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

// Groups are the groups of a service account of namespace.
func Groups(namespace string) []string {
	return []string{AllGroup, AllGroup + ":" + namespace}
}
