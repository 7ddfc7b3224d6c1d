package validation

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testPod(mut ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{Name: "data"}},
			Containers: []corev1.Container{{
				Name:  "web",
				Image: "nginx:1.27",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")},
				}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
		},
	}
	for _, m := range mut {
		m(p)
	}
	return p
}

func ctr(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[0] }

func TestDefaultPod(t *testing.T) {
	pod := testPod(func(p *corev1.Pod) {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "busybox",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}})
		p.Spec.HostNetwork = true
	})
	Default(pod)
	want := corev1.PodSpec{
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		Containers: []corev1.Container{{
			Name:  "web",
			Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80, HostPort: 80, Protocol: "TCP"}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http"), Scheme: "HTTP"},
				},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
			},
			VolumeMounts:             []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			TerminationMessagePath:   "/dev/termination-log",
			TerminationMessagePolicy: "File",
			ImagePullPolicy:          "IfNotPresent",
		}, {
			Name:  "side",
			Image: "busybox",
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			},
			TerminationMessagePath:   "/dev/termination-log",
			TerminationMessagePolicy: "File",
			ImagePullPolicy:          "Always",
		}},
		RestartPolicy:                 "Always",
		TerminationGracePeriodSeconds: ptr[int64](30),
		DNSPolicy:                     "ClusterFirst",
		HostNetwork:                   true,
		SecurityContext:               &corev1.PodSecurityContext{},
		SchedulerName:                 "default-scheduler",
		EnableServiceLinks:            ptr(true),
	}
	if diff := cmp.Diff(want, pod.Spec); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"nginx": "Always", "nginx:latest": "Always", "nginx:1.27": "IfNotPresent",
		"localhost:5000/app": "Always", "localhost:5000/app:v1": "IfNotPresent",
		"nginx@sha256:0123": "IfNotPresent", "": "IfNotPresent",
	} {
		if got := defaultPullPolicy(image); got != want {
			t.Errorf("defaultPullPolicy(%q) = %s, want %s", image, got, want)
		}
	}
}

func TestValidatePod(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want []string
	}{
		{"valid", testPod(), nil},
		{"containers required", testPod(func(p *corev1.Pod) { p.Spec.Containers = nil }), []string{e(required, "spec.containers")}},
		{"container name", testPod(func(p *corev1.Pod) { ctr(p).Name = "Web" }), []string{e(invalidT, "spec.containers[0].name")}},
		{"container name required", testPod(func(p *corev1.Pod) { ctr(p).Name = "" }), []string{e(required, "spec.containers[0].name")}},
		{"duplicate container name", testPod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "web", Image: "busybox"}}
		}), []string{e(duplicate, "spec.initContainers[0].name")}},
		{"image required", testPod(func(p *corev1.Pod) { ctr(p).Image = "" }), []string{e(required, "spec.containers[0].image")}},
		{"container port required", testPod(func(p *corev1.Pod) { ctr(p).Ports[0].ContainerPort = 0 }), []string{e(required, "spec.containers[0].ports[0].containerPort")}},
		{"container port range", testPod(func(p *corev1.Pod) { ctr(p).Ports[0].ContainerPort = 70000 }), []string{e(invalidT, "spec.containers[0].ports[0].containerPort")}},
		{"host port range", testPod(func(p *corev1.Pod) { ctr(p).Ports[0].HostPort = -1 }), []string{e(invalidT, "spec.containers[0].ports[0].hostPort")}},
		{"port protocol", testPod(func(p *corev1.Pod) { ctr(p).Ports[0].Protocol = "tcp" }), []string{e(notSupported, "spec.containers[0].ports[0].protocol")}},
		{"port name", testPod(func(p *corev1.Pod) { ctr(p).Ports[0].Name = "http-port-too-long" }), []string{e(invalidT, "spec.containers[0].ports[0].name")}},
		{"duplicate port name", testPod(func(p *corev1.Pod) {
			ctr(p).Ports = append(ctr(p).Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81})
		}), []string{e(duplicate, "spec.containers[0].ports[1].name")}},
		{"duplicate host port", testPod(func(p *corev1.Pod) {
			ctr(p).Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 81, HostPort: 8080}}
			ctr(p).ReadinessProbe = nil
		}), []string{e(duplicate, "spec.containers[0].ports[1].hostPort")}},
		{"host network port mismatch", testPod(func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			ctr(p).Ports[0].HostPort = 8080
		}), []string{e(invalidT, "spec.containers[0].ports[0].hostPort")}},
		{"restart policy", testPod(func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }), []string{e(notSupported, "spec.restartPolicy")}},
		{"dns policy", testPod(func(p *corev1.Pod) { p.Spec.DNSPolicy = "Cluster" }), []string{e(notSupported, "spec.dnsPolicy")}},
		{"dns none needs config", testPod(func(p *corev1.Pod) { p.Spec.DNSPolicy = "None" }), []string{e(required, "spec.dnsConfig")}},
		{"dns nameserver", testPod(func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"10.96.0.10", "dns"}}
		}), []string{e(invalidT, "spec.dnsConfig.nameservers[1]")}},
		{"probe without handler", testPod(func(p *corev1.Pod) { ctr(p).LivenessProbe = &corev1.Probe{} }), []string{e(required, "spec.containers[0].livenessProbe")}},
		{"probe with two handlers", testPod(func(p *corev1.Pod) {
			ctr(p).ReadinessProbe.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}
		}), []string{e(forbidden, "spec.containers[0].readinessProbe.tcpSocket")}},
		{"probe http port name", testPod(func(p *corev1.Pod) { ctr(p).ReadinessProbe.HTTPGet.Port = intstr.FromString("web_port") }),
			[]string{e(invalidT, "spec.containers[0].readinessProbe.httpGet.port")}},
		{"probe tcp port", testPod(func(p *corev1.Pod) {
			ctr(p).LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(0)}}}
		}), []string{e(invalidT, "spec.containers[0].livenessProbe.tcpSocket.port")}},
		{"probe exec command", testPod(func(p *corev1.Pod) {
			ctr(p).LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{}}}
		}), []string{e(required, "spec.containers[0].livenessProbe.exec.command")}},
		{"probe period", testPod(func(p *corev1.Pod) { ctr(p).ReadinessProbe.PeriodSeconds = -1 }), []string{e(invalidT, "spec.containers[0].readinessProbe.periodSeconds")}},
		{"liveness success threshold", testPod(func(p *corev1.Pod) {
			ctr(p).LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}, SuccessThreshold: 2}
		}), []string{e(invalidT, "spec.containers[0].livenessProbe.successThreshold")}},
		{"probe on init container", testPod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", ReadinessProbe: ctr(p).ReadinessProbe}}
		}), []string{e(forbidden, "spec.initContainers[0].readinessProbe")}},
		{"probe on sidecar", testPod(func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{{Name: "side", Image: "busybox", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways),
				StartupProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}}}
		}), nil},
		{"node name", testPod(func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" }), []string{e(invalidT, "spec.nodeName")}},
		{"unknown volume", testPod(func(p *corev1.Pod) { ctr(p).VolumeMounts[0].Name = "logs" }), []string{e(notFound, "spec.containers[0].volumeMounts[0].name")}},
		{"two volume sources", testPod(func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}, HostPath: &corev1.HostPathVolumeSource{Path: "/x"}}
		}), []string{e(forbidden, "spec.volumes[0].emptyDir")}},
		{"duplicate volume", testPod(func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "data"}) }),
			[]string{e(duplicate, "spec.volumes[1].name")}},
		{"active deadline", testPod(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](0) }), []string{e(invalidT, "spec.activeDeadlineSeconds")}},
		{"env name", testPod(func(p *corev1.Pod) { ctr(p).Env = []corev1.EnvVar{{Name: "A=B"}} }), []string{e(invalidT, "spec.containers[0].env[0].name")}},
		{"env field ref", testPod(func(p *corev1.Pod) {
			ctr(p).Env = []corev1.EnvVar{{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.containers"}}}}
		}), []string{e(notSupported, "spec.containers[0].env[1].valueFrom.fieldRef.fieldPath")}},
		{"toleration", testPod(func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: "Exists", Effect: "NoSchedule"}, {Operator: "Equal"}}
		}), []string{e(invalidT, "spec.tolerations[1].operator")}},
		{"pull policy", testPod(func(p *corev1.Pod) { ctr(p).ImagePullPolicy = "Sometimes" }), []string{e(notSupported, "spec.containers[0].imagePullPolicy")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			expectErrs(t, defaultAndValidate(tc.pod, nil, testOpts), tc.want...)
		})
	}
}

func TestValidatePodUpdate(t *testing.T) {
	stored := func() *corev1.Pod {
		p := testPod(func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Key: "k", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: ptr[int64](60)}}
			p.Spec.ActiveDeadlineSeconds = ptr[int64](600)
			ctr(p).Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
		})
		Default(p)
		return p
	}
	tests := []struct {
		name string
		mut  func(*corev1.Pod)
		want []string
	}{
		{"image", func(p *corev1.Pod) { ctr(p).Image = "nginx:1.28" }, nil},
		{"image whitespace", func(p *corev1.Pod) { ctr(p).Image = "nginx " }, []string{e(invalidT, "spec.containers[0].image")}},
		{"labels", func(p *corev1.Pod) { p.Labels["tier"] = "front" }, nil},
		{"lower deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](60) }, nil},
		{"raise deadline", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](6000) }, []string{e(invalidT, "spec.activeDeadlineSeconds")}},
		{"add toleration", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "x", Operator: "Exists"})
		}, nil},
		{"shorten toleration seconds", func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr[int64](10) }, nil},
		{"remove toleration", func(p *corev1.Pod) { p.Spec.Tolerations = nil }, []string{e(forbidden, "spec.tolerations")}},
		{"command", func(p *corev1.Pod) { ctr(p).Command = []string{"sh"} }, []string{e(forbidden, "spec")}},
		{"resources", func(p *corev1.Pod) { ctr(p).Resources.Limits[corev1.ResourceMemory] = resource.MustParse("128Mi") }, []string{e(forbidden, "spec")}},
		{"node name", func(p *corev1.Pod) { p.Spec.NodeName = "node-1" }, []string{e(forbidden, "spec")}},
		{"add container", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "b"})
		}, []string{e(forbidden, "spec.containers")}},
		{"image emptied", func(p *corev1.Pod) { ctr(p).Image = "" }, []string{e(required, "spec.containers[0].image")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := stored()
			p := old.DeepCopy()
			tc.mut(p)
			expectErrs(t, defaultAndValidate(p, old, testOpts), tc.want...)
		})
	}
}

func TestPodUpdateMessage(t *testing.T) {
	old := testPod()
	Default(old)
	p := old.DeepCopy()
	ctr(p).Args = []string{"-v"}
	errs := Validate(p, old, testOpts)
	if len(errs) != 1 || !strings.HasPrefix(errs[0].Detail, "pod updates may not change fields other than `spec.containers[*].image`") ||
		!strings.Contains(errs[0].Detail, "-v") {
		t.Errorf("errs = %v", errs)
	}
}

func TestValidatePodStatusUpdate(t *testing.T) {
	old := testPod()
	Default(old)
	tests := []struct {
		name string
		mut  func(*corev1.Pod)
		want []string
	}{
		{"pod ip", func(p *corev1.Pod) {
			p.Status.PodIP, p.Status.PodIPs = "10.244.0.5", []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "fd00::5"}}
		}, nil},
		{"bad pod ip", func(p *corev1.Pod) { p.Status.PodIP = "10.244.0" }, []string{e(invalidT, "status.podIP")}},
		{"pod ips must lead with pod ip", func(p *corev1.Pod) {
			p.Status.PodIP, p.Status.PodIPs = "10.244.0.5", []corev1.PodIP{{IP: "10.244.0.6"}}
		}, []string{e(invalidT, "status.podIPs[0].ip")}},
		{"two of a family", func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.5"}, {IP: "10.244.0.6"}} },
			[]string{e(invalidT, "status.podIPs")}},
		{"bad host ip", func(p *corev1.Pod) { p.Status.HostIP = "host" }, []string{e(invalidT, "status.hostIP")}},
		{"renamed", func(p *corev1.Pod) { p.Name = "web-1" }, []string{e(invalidT, "metadata.name")}},
		{"spec ignored", func(p *corev1.Pod) { p.Spec.Containers = nil }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := old.DeepCopy()
			tc.mut(p)
			expectErrs(t, ValidateStatusUpdate(p, old), tc.want...)
		})
	}
}
