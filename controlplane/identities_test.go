package controlplane

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/switchyard-net/switchyard/controlplane/auth"
	"github.com/switchyard-net/switchyard/controlplane/controllers"
)

// TestEveryLoopHasARole: each control loop the manager runs under its own
// service account is bound to a default role; a loop without one would
// be refused every write.
func TestEveryLoopHasARole(t *testing.T) {
	bound := map[string]bool{}
	for _, b := range auth.DefaultClusterRoleBindings() {
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Namespace == "kube-system" {
				bound[s.Name] = true
			}
		}
	}
	for _, loop := range controllers.Loops {
		if !bound[loop] {
			t.Errorf("loop %s: no default ClusterRoleBinding names kube-system/%s", loop, loop)
		}
	}
}
