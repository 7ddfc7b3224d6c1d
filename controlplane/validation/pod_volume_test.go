package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestValidatePodEnvSourcesAndVolumes(t *testing.T) {
	cmKey := func(name, key string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr(true)}}
	}
	res := func(r, d string) *corev1.EnvVarSource {
		s := &corev1.ResourceFieldSelector{Resource: r}
		if d != "" {
			s.Divisor = resource.MustParse(d)
		}
		return &corev1.EnvVarSource{ResourceFieldRef: s}
	}
	vol := func(vs corev1.VolumeSource) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.Volumes[0].VolumeSource = vs }
	}
	env := func(vars ...corev1.EnvVar) func(*corev1.Pod) { return func(p *corev1.Pod) { ctr(p).Env = vars } }
	cmVol := func(items ...corev1.KeyToPath) corev1.VolumeSource {
		return corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: items}}
	}
	tests := []struct {
		name string
		mut  func(*corev1.Pod)
		want []string
	}{
		{"valid env sources", func(p *corev1.Pod) {
			ctr(p).Env = []corev1.EnvVar{
				{Name: "A", ValueFrom: cmKey("cfg", "a.key")},
				{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
				{Name: "CPU", ValueFrom: res("limits.cpu", "1m")},
				{Name: "MEM", ValueFrom: res("requests.memory", "1Mi")},
				{Name: "L", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			}
			ctr(p).EnvFrom = []corev1.EnvFromSource{
				{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Optional: ptr(true)}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
			}
		}, nil},
		{"configMapKeyRef key", env(corev1.EnvVar{Name: "A", ValueFrom: cmKey("cfg", "bad/key")}),
			[]string{e(invalidT, "spec.containers[0].env[0].valueFrom.configMapKeyRef.key")}},
		{"configMapKeyRef name", env(corev1.EnvVar{Name: "A", ValueFrom: cmKey("", "k")}),
			[]string{e(required, "spec.containers[0].env[0].valueFrom.configMapKeyRef.name")}},
		{"secretKeyRef key required", env(corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}}}),
			[]string{e(required, "spec.containers[0].env[0].valueFrom.secretKeyRef.key")}},
		{"value and valueFrom", env(corev1.EnvVar{Name: "A", Value: "x", ValueFrom: cmKey("cfg", "k")}),
			[]string{e(invalidT, "spec.containers[0].env[0].valueFrom")}},
		{"resource name", env(corev1.EnvVar{Name: "A", ValueFrom: res("limits.gpu", "")}),
			[]string{e(notSupported, "spec.containers[0].env[0].valueFrom.resourceFieldRef.resource")}},
		{"cpu divisor", env(corev1.EnvVar{Name: "A", ValueFrom: res("limits.cpu", "1Mi")}),
			[]string{e(invalidT, "spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor")}},
		{"whole labels in env", env(corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}),
			[]string{e(notSupported, "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath")}},
		{"envFrom prefix", func(p *corev1.Pod) {
			ctr(p).EnvFrom = []corev1.EnvFromSource{{Prefix: "A=", ConfigMapRef: &corev1.ConfigMapEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
		}, []string{e(invalidT, "spec.containers[0].envFrom[0].prefix")}},
		{"envFrom without source", func(p *corev1.Pod) { ctr(p).EnvFrom = []corev1.EnvFromSource{{Prefix: "A"}} },
			[]string{e(invalidT, "spec.containers[0].envFrom[0]")}},
		{"valid configMap volume", vol(cmVol(corev1.KeyToPath{Key: "a", Path: "dir/a.conf", Mode: ptr[int32](0o600)})), nil},
		{"configMap item path escapes", vol(cmVol(corev1.KeyToPath{Key: "a", Path: "../a"})),
			[]string{e(invalidT, "spec.volumes[0].configMap.items[0].path")}},
		{"configMap item absolute path", vol(cmVol(corev1.KeyToPath{Key: "a", Path: "/etc/a"})),
			[]string{e(invalidT, "spec.volumes[0].configMap.items[0].path")}},
		{"configMap item mode", vol(cmVol(corev1.KeyToPath{Key: "a", Path: "a", Mode: ptr[int32](0o1777)})),
			[]string{e(invalidT, "spec.volumes[0].configMap.items[0].mode")}},
		{"secret defaultMode", vol(corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "db", DefaultMode: ptr[int32](-1)}}),
			[]string{e(invalidT, "spec.volumes[0].secret.defaultMode")}},
		{"emptyDir medium", vol(corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "HugePages"}}),
			[]string{e(notSupported, "spec.volumes[0].emptyDir.medium")}},
		{"downwardAPI item", vol(corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "ip", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}},
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}},
		}}}), []string{e(notSupported, "spec.volumes[0].downwardAPI.items[1].fieldRef.fieldPath"),
			e(required, "spec.volumes[0].downwardAPI.items[2].resourceFieldRef.containerName")}},
		{"projected", vol(corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "a", Path: "a"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Items: []corev1.KeyToPath{{Key: "b", Path: "a"}}}},
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr[int64](60)}},
			{},
		}}}), []string{e(duplicate, "spec.volumes[0].projected.sources[1].secret.items[0].path"),
			e(invalidT, "spec.volumes[0].projected.sources[2].serviceAccountToken.expirationSeconds"),
			e(forbidden, "spec.volumes[0].projected.sources[3]")}},
		{"subPath and subPathExpr", func(p *corev1.Pod) {
			ctr(p).VolumeMounts[0].SubPath, ctr(p).VolumeMounts[0].SubPathExpr = "a", "$(POD)"
		}, []string{e(invalidT, "spec.containers[0].volumeMounts[0].subPathExpr")}},
		{"subPath escapes", func(p *corev1.Pod) { ctr(p).VolumeMounts[0].SubPath = "a/../../b" },
			[]string{e(invalidT, "spec.containers[0].volumeMounts[0].subPath")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectErrs(t, defaultAndValidate(testPod(tc.mut), nil, testOpts), tc.want...)
		})
	}
}
