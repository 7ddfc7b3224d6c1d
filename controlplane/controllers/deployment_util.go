package controllers

import (
	"math"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// Annotations and reasons of the Deployment controller, as upstream's
// pkg/controller/deployment/util/deployment_util.go; kubectl reads them.
const (
	revisionAnnotation        = "deployment.kubernetes.io/revision"
	revisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	maxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	lastAppliedAnnotation     = "kubectl.kubernetes.io/last-applied-configuration"
	rollbackToAnnotation      = "deprecated.deployment.rollback.to"

	reasonRSUpdated        = "ReplicaSetUpdated"
	reasonFailedRSCreate   = "ReplicaSetCreateError"
	reasonNewRSCreated     = "NewReplicaSetCreated"
	reasonFoundNewRS       = "FoundNewReplicaSet"
	reasonNewRSAvailable   = "NewReplicaSetAvailable"
	reasonTimedOut         = "ProgressDeadlineExceeded"
	reasonPaused           = "DeploymentPaused"
	reasonResumed          = "DeploymentResumed"
	reasonMinAvailable     = "MinimumReplicasAvailable"
	reasonMinUnavailable   = "MinimumReplicasUnavailable"
	defaultDeploymentLabel = appsv1.DefaultDeploymentUniqueLabelKey // pod-template-hash
)

// annotationsNotCopied are the deployment annotations a ReplicaSet does
// not inherit.
var annotationsNotCopied = map[string]bool{
	lastAppliedAnnotation: true, revisionAnnotation: true, revisionHistoryAnnotation: true,
	desiredReplicasAnnotation: true, maxReplicasAnnotation: true, rollbackToAnnotation: true,
}

func replicas(d *appsv1.Deployment) int32 { return int32Val(d.Spec.Replicas, 1) }

func rsReplicas(rs *appsv1.ReplicaSet) int32 { return int32Val(rs.Spec.Replicas, 1) }

func isRolling(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType
}

// fenceposts resolves maxSurge (rounded up) and maxUnavailable (rounded
// down) against the desired replicas; both 0 would deadlock, so
// maxUnavailable becomes 1 (upstream ResolveFenceposts).
func fenceposts(d *appsv1.Deployment) (surge, unavailable int32) {
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil {
		ru = &appsv1.RollingUpdateDeployment{}
	}
	s, err1 := scaledValue(ru.MaxSurge, int(replicas(d)), true)
	u, err2 := scaledValue(ru.MaxUnavailable, int(replicas(d)), false)
	if err1 != nil || err2 != nil {
		s, u = 0, 1 // invalid values are refused by the API; be safe regardless
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u)
}

func maxSurge(d *appsv1.Deployment) int32 {
	if !isRolling(d) {
		return 0
	}
	s, _ := fenceposts(d)
	return s
}

func maxUnavailable(d *appsv1.Deployment) int32 {
	if !isRolling(d) || replicas(d) == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, replicas(d))
}

// newRSNewReplicas is how far the new ReplicaSet may grow now: up to
// replicas + maxSurge pods in total (upstream NewRSNewReplicas).
func newRSNewReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) int32 {
	if !isRolling(d) {
		return replicas(d)
	}
	maxTotal := replicas(d) + maxSurge(d)
	current := sumReplicas(all)
	if current >= maxTotal {
		return rsReplicas(newRS)
	}
	up := min(maxTotal-current, replicas(d)-rsReplicas(newRS))
	return rsReplicas(newRS) + up
}

func sumReplicas(rss []*appsv1.ReplicaSet) (n int32) {
	for _, rs := range rss {
		if rs != nil {
			n += rsReplicas(rs)
		}
	}
	return n
}

func sumStatus(rss []*appsv1.ReplicaSet, f func(*appsv1.ReplicaSetStatus) int32) (n int32) {
	for _, rs := range rss {
		if rs != nil {
			n += f(&rs.Status)
		}
	}
	return n
}

func activeRSs(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && rsReplicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// equalIgnoreHash compares pod templates without the pod-template-hash
// label, which only the ReplicaSet's copy carries.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, defaultDeploymentLabel)
	delete(b.Labels, defaultDeploymentLabel)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return equality.Semantic.DeepEqual(a, b)
}

// sortByCreation orders oldest first, ties by name.
func sortByCreation(rss []*appsv1.ReplicaSet) {
	sort.SliceStable(rss, func(i, j int) bool {
		a, b := rss[i].CreationTimestamp, rss[j].CreationTimestamp
		if a.Equal(&b) {
			return rss[i].Name < rss[j].Name
		}
		return a.Before(&b)
	})
}

// findNewRS returns the oldest ReplicaSet whose template equals the
// deployment's, and the others (upstream FindNewReplicaSet/FindOldReplicaSets).
func findNewRS(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) (newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) {
	sorted := append([]*appsv1.ReplicaSet(nil), rss...)
	sortByCreation(sorted)
	for _, rs := range sorted {
		if newRS == nil && equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			newRS = rs
			continue
		}
		old = append(old, rs)
	}
	return newRS, old
}

func revision(rs *appsv1.ReplicaSet) int64 {
	v, _ := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
	return v
}

func maxRevision(rss []*appsv1.ReplicaSet) (m int64) {
	for _, rs := range rss {
		m = max(m, revision(rs))
	}
	return m
}

// setReplicasAnnotations records the deployment size (and its maximum
// with surge) the ReplicaSet was scaled for; proportional scaling reads it.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxTotal int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxTotal))
	changed := rs.Annotations[desiredReplicasAnnotation] != d || rs.Annotations[maxReplicasAnnotation] != m
	rs.Annotations[desiredReplicasAnnotation], rs.Annotations[maxReplicasAnnotation] = d, m
	return changed
}

func annotatedInt(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, err := strconv.Atoi(rs.Annotations[key])
	return int32(v), err == nil
}

// replicaSetFraction is rs's share of a resize of the whole deployment
// (upstream getReplicaSetFraction): its size scaled by the new maximum
// over the maximum it was sized for.
func replicaSetFraction(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	if replicas(d) == 0 {
		return -rsReplicas(rs)
	}
	total := replicas(d) + maxSurge(d)
	annotated, ok := annotatedInt(rs, maxReplicasAnnotation)
	if !ok || annotated == 0 {
		annotated = d.Status.Replicas
	}
	if annotated == 0 {
		return 0
	}
	size := float64(rsReplicas(rs)) * float64(total) / float64(annotated)
	return int32(math.Round(size)) - rsReplicas(rs)
}

// proportion bounds rs's fraction by what is left to add or remove.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || rsReplicas(rs) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	f := replicaSetFraction(rs, d)
	if toAdd > 0 {
		return min(f, toAdd-added)
	}
	return max(f, toAdd-added)
}

// isSaturated reports whether rs alone runs the whole deployment.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := annotatedInt(rs, desiredReplicasAnnotation)
	return ok && rsReplicas(rs) == replicas(d) && desired == replicas(d) && rs.Status.AvailableReplicas == replicas(d)
}
