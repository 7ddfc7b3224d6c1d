#!/usr/bin/env bash
# The README demo: boots a sandboxed switchyard node (its own network
# namespace, its own data dir), applies ordinary Kubernetes YAML, shows what
# the control plane did with it, then a two-node sandbox cluster with a pod
# on each node answering the other, and removes everything again, also when
# a step fails.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
	echo "demo: needs root (it creates a network namespace); try: sudo make demo" >&2
	exit 1
fi

SY=${SY:-bin/switchyard}
NAME=sy-demo-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
cleanup() { "$SY" sandbox down "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
in_sandbox() { "$SY" sandbox exec "$NAME" -- "$@"; }

step "Boot a sandboxed node: network namespace $NAME with the daemon inside, and an outside client on its uplink"
"$SY" sandbox up --name "$NAME" --uplink

step "Apply ordinary Kubernetes YAML (examples/web.yaml)"
in_sandbox "$SY" apply -f examples/web.yaml

step "Services got ClusterIPs and node ports from the allocators"
in_sandbox "$SY" get svc -n demo -o wide

step "The node registered itself, got a pod CIDR and is Ready"
in_sandbox "$SY" get nodes -o wide

step "The scheduler bound the pods to it; each got a netns, a veth on sy0 and an IP"
if command -v kubectl >/dev/null; then
	in_sandbox kubectl wait --for=condition=Ready pod --all -n demo --timeout=90s >/dev/null
else
	sleep 10
fi
in_sandbox "$SY" get pods -n demo -o wide

step "EndpointSlices list the Ready pods"
in_sandbox "$SY" get endpointslices -n demo

step "Pods talk to each other: from web-1's namespaces, ask web-2 for its hostname"
IP2=$(in_sandbox "$SY" get pod web-2 -n demo -o json | sed -n 's/.*"podIP": "\([0-9.]*\)".*/\1/p' | head -1)
in_sandbox "$SY" exec -n demo web-1 -- curl -s "http://$IP2:8080/hostname"
echo
in_sandbox "$SY" exec -n demo web-1 -- sh -c 'echo "hostname: $(hostname)"; cat /etc/resolv.conf'

jsonfield() { sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p" | head -1; }
CIP=$(in_sandbox "$SY" get svc api -n demo -o json | jsonfield clusterIP)
step "Services: from web-1, the api Service's ClusterIP ($CIP) answers through the node's load-balancer"
in_sandbox "$SY" exec -n demo web-1 -- curl -s --max-time 5 "http://$CIP/hostname"
echo

step "NodePort from outside the node: 203.0.113.2 → 203.0.113.1:30080, spread over web-1 and web-2"
for _ in 1 2 3 4 5 6; do
	"$SY" sandbox exec --outside "$NAME" -- curl -s --max-time 5 http://203.0.113.1:30080/hostname
	echo
done

step "Cluster DNS: web-1 resolves services by short name through its search path"
in_sandbox "$SY" exec -n demo web-1 -- getent hosts api
in_sandbox "$SY" exec -n demo web-1 -- curl -s --max-time 5 http://api/hostname
echo
in_sandbox "$SY" exec -n demo web-1 -- getent hosts kube-dns.kube-system

step "Ingress: one address, two services by Host and path (from outside the node)"
echo "web.example.com/      → $("$SY" sandbox exec --outside "$NAME" -- curl -s --max-time 5 -H 'Host: web.example.com' http://203.0.113.1/hostname)"
echo "web.example.com/api/x → $("$SY" sandbox exec --outside "$NAME" -- curl -s --max-time 5 -H 'Host: web.example.com' http://203.0.113.1/api/x | sed -n 's/.*"hostname": *"\([^"]*\)".*/\1/p')"
echo "other.example.com/    → HTTP $("$SY" sandbox exec --outside "$NAME" -- curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: other.example.com' http://203.0.113.1/)"

step "What the node's load-balancer programmed (switchyard status)"
in_sandbox "$SY" status
in_sandbox "$SY" status services

step "Container logs"
in_sandbox "$SY" logs -n demo web-1 | head -5

step "kubectl works against the same API"
if command -v kubectl >/dev/null; then
	in_sandbox kubectl get ns
	in_sandbox kubectl get ingress -n demo
else
	echo "(kubectl not installed; skipped)"
fi

step "Invalid objects are rejected with the field that is wrong"
in_sandbox "$SY" apply -f examples/invalid/service-bad-port.yaml || true

step "Delete what was applied"
in_sandbox "$SY" delete -f examples/web.yaml

step "Tear the sandbox down"
"$SY" sandbox down "$NAME"

CLUSTER=sy-demo-c-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')
N1=$CLUSTER-n1 N2=$CLUSTER-n2
trap '"$SY" sandbox down "$CLUSTER" >/dev/null 2>&1 || true' EXIT
on() { local n=$1; shift; "$SY" sandbox exec "$CLUSTER/$n" -- "$@"; }

step "Two nodes: a sandbox cluster on a simulated underlay (198.51.100.0/24); node 2 joins node 1 with its token"
"$SY" sandbox up --name "$CLUSTER" --nodes 2 --control-planes 1
on n1 "$SY" get nodes -o wide

step "One pod on each node, and a Service in front of the one on node 2"
on n1 "$SY" apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata: {name: hello-1, labels: {app: hello-1}}
spec:
  nodeName: $N1
  containers:
    - {name: web, image: registry.k8s.io/e2e-test-images/agnhost:2.52, command: ["switchyard", "netexec", "--http-port=8080"], ports: [{name: http, containerPort: 8080}]}
---
apiVersion: v1
kind: Pod
metadata: {name: hello-2, labels: {app: hello-2}}
spec:
  nodeName: $N2
  containers:
    - {name: web, image: registry.k8s.io/e2e-test-images/agnhost:2.52, command: ["switchyard", "netexec", "--http-port=8080"], ports: [{name: http, containerPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: hello-2}
spec:
  selector: {app: hello-2}
  ports: [{port: 80, targetPort: http}]
EOF
if command -v kubectl >/dev/null; then
	on n1 kubectl wait --for=condition=Ready pod hello-1 hello-2 --timeout=90s >/dev/null
else
	sleep 10
fi
on n1 "$SY" get pods -o wide

IP1=$(on n1 "$SY" get pod hello-1 -o json | jsonfield podIP)
IP2=$(on n1 "$SY" get pod hello-2 -o json | jsonfield podIP)
CIP2=$(on n1 "$SY" get svc hello-2 -o json | jsonfield clusterIP)
step "Across nodes: hello-1 (node 1) asks hello-2 (node 2) by pod IP $IP2 and through the ClusterIP $CIP2"
echo "by IP:        $(on n1 "$SY" exec hello-1 -- curl -s --max-time 5 "http://$IP2:8080/hostname")"
echo "by ClusterIP: $(on n1 "$SY" exec hello-1 -- curl -s --max-time 5 "http://$CIP2/hostname")"
echo "and back, hello-2 (node 2) → hello-1 ($IP1): $(on n2 "$SY" exec hello-2 -- curl -s --max-time 5 "http://$IP1:8080/hostname")"

step "Tear the cluster down"
"$SY" sandbox down "$CLUSTER"
trap - EXIT
echo "demo: done; nothing left behind (ip netns list shows no $NAME or $CLUSTER)"
