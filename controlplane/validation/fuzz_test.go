package validation

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exercise runs every entry point on a decoded object: validation of the
// raw object, Default (which must be idempotent), create, update and
// status-update validation in both directions. Nothing may panic.
func exercise(t *testing.T, obj runtime.Object) {
	raw := obj.DeepCopyObject()
	Validate(raw, nil, testOpts)
	Default(obj)
	again := obj.DeepCopyObject()
	Default(again)
	if !apiequality.Semantic.DeepEqual(obj, again) {
		t.Errorf("Default is not idempotent:\nonce:  %+v\ntwice: %+v", obj, again)
	}
	Validate(obj, nil, testOpts)
	Validate(obj, raw, testOpts)
	Validate(raw, obj, Options{NodePortMin: 1, NodePortMax: 2})
	ValidateStatusUpdate(obj, raw)
	ValidateStatusUpdate(raw, obj)
}

func FuzzValidateService(f *testing.F) {
	seeds := []*corev1.Service{
		testService(),
		testService(asType("LoadBalancer"), twoPorts, func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy, s.Spec.HealthCheckNodePort = "Local", 30100
			s.Spec.Ports[0].NodePort = 30080
			s.Spec.SessionAffinity = "ClientIP"
			s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"}
		}),
		testService(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Ports = "None", nil }),
		testService(asType("ExternalName"), func(s *corev1.Service) { s.Spec.ExternalName = "db.example.com" }),
		testService(func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"10.96.0.10", "fd00::10"}
			s.Spec.IPFamilies = []corev1.IPFamily{"IPv4", "IPv6"}
		}),
	}
	for _, s := range seeds {
		f.Add(mustJSON(f, s))
	}
	f.Add([]byte(`{"spec":{"type":"LoadBalancer","clusterIP":"None","ports":[{"port":70000,"targetPort":"x"}]}}`))
	f.Add([]byte(`{"spec":{"type":"ExternalName","clusterIPs":["None","1.2.3.4","::1"],"sessionAffinity":"ClientIP","sessionAffinityConfig":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var svc corev1.Service
		if json.Unmarshal(data, &svc) != nil {
			return
		}
		old := svc.DeepCopy()
		exercise(t, &svc)
		PrepareServiceUpdate(old, &svc)
		PrepareServiceUpdate(&svc, old)
	})
}

func FuzzValidateIngress(f *testing.F) {
	f.Add(mustJSON(f, testIngress()))
	f.Add(mustJSON(f, testIngress(withPathType("Exact", "/a/../b"), func(i *networkingv1.Ingress) {
		i.Spec.DefaultBackend = &networkingv1.IngressBackend{Resource: &corev1TypedRef}
		i.Spec.Rules = append(i.Spec.Rules, networkingv1.IngressRule{Host: "*.example.com"})
	})))
	f.Add([]byte(`{"spec":{"rules":[{"host":"1.2.3.4","http":{"paths":[{"backend":{}}]}}],"tls":[{"hosts":["*"]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ing networkingv1.Ingress
		if json.Unmarshal(data, &ing) != nil {
			return
		}
		exercise(t, &ing)
	})
}

func FuzzDefaultAndValidatePod(f *testing.F) {
	f.Add(mustJSON(f, testPod()))
	f.Add(mustJSON(f, testPod(func(p *corev1.Pod) {
		p.Spec.HostNetwork = true
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways),
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}}}}}
		ctr(p).Env = []corev1.EnvVar{{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}}
		ctr(p).Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}}}
		p.Spec.Tolerations = []corev1.Toleration{{Operator: "Exists"}}
		p.Spec.DNSPolicy, p.Spec.DNSConfig = "None", &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}}
		p.Status.PodIP, p.Status.PodIPs = "10.244.0.5", []corev1.PodIP{{IP: "10.244.0.5"}}
	})))
	f.Add([]byte(`{"spec":{"containers":[{"resources":{"limits":{"cpu":"1"}},"ports":[{}]}],"volumes":[{"secret":{},"hostPath":{}}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var pod corev1.Pod
		if json.Unmarshal(data, &pod) != nil {
			return
		}
		exercise(t, &pod)
	})
}
