package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/proxy"
	apiproxy "k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/streaming/pkg/httpstream/wsstream"

	"github.com/switchyard-net/switchyard/controlplane/resources"
)

// Pod subresources proxied to the node server of the pod's node
// (dataplane/nodeserver), as kube-apiserver proxies them to the kubelet.
var podStreamSubresources = map[string]bool{"log": true, "exec": true, "attach": true, "portforward": true}

var podsGR = schema.GroupResource{Resource: "pods"}

func isPodStream(info requestInfo) bool {
	return info.Resource.GVR.Group == "" && info.Resource.GVR.Resource == "pods" && podStreamSubresources[info.Subresource]
}

// nodeTransport is the API server's client of node servers.
func (s *Server) nodeTransport() *http.Transport {
	s.nodeOnce.Do(func() {
		tlsCfg := s.cfg.NodeTLS
		if tlsCfg == nil {
			tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		s.nodeRT = &http.Transport{
			TLSClientConfig:     tlsCfg.Clone(),
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout: 10 * time.Second,
			IdleConnTimeout:     90 * time.Second,
			MaxIdleConnsPerHost: 10,
		}
	})
	return s.nodeRT
}

// servePodStream proxies pods/{log,exec,attach,portforward}.
func (s *Server) servePodStream(w http.ResponseWriter, r *http.Request, info requestInfo) {
	if s.cfg.NodeTLS == nil {
		s.writeError(w, r, apierrors.NewServiceUnavailable("this API server has no credentials for node servers"))
		return
	}
	switch {
	case info.Subresource == "log" && r.Method != http.MethodGet,
		info.Subresource != "log" && r.Method != http.MethodGet && r.Method != http.MethodPost:
		s.writeError(w, r, apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/" + info.Subresource}, r.Method))
		return
	}
	obj, err := s.getObject(r, info, info.Name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		s.writeError(w, r, fmt.Errorf("stored pod %s is a %T", info.Name, obj))
		return
	}
	loc, err := s.podStreamLocation(r, pod, info.Subresource, r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if info.Subresource == "log" {
		s.proxyLog(w, r, loc, pod)
		return
	}
	upgrade := proxy.NewUpgradeAwareHandler(loc, s.nodeTransport(), false, true, nodeResponder{s, pod.Spec.NodeName})
	var h http.Handler = upgrade
	if info.Subresource == "portforward" {
		// kubectl 1.32 tunnels SPDY through a websocket; the node speaks
		// SPDY (kube-apiserver does the same).
		h = apiproxy.NewTranslatingHandler(upgrade, apiproxy.NewTunnelingHandler(upgrade), wsstream.IsWebSocketRequestWithTunnelingProtocol)
	} else {
		// Websocket v5 (stdin close) is translated to SPDY towards the node.
		q := loc.Query()
		opts := apiproxy.Options{Stdin: q.Get("input") == "1", Stdout: q.Get("output") == "1", Stderr: q.Get("error") == "1", Tty: q.Get("tty") == "1"}
		h = apiproxy.NewTranslatingHandler(upgrade, apiproxy.NewStreamTranslatorHandler(loc, s.nodeTransport(), 0, opts), wsstream.IsWebSocketRequestWithStreamCloseProtocol)
	}
	h.ServeHTTP(w, r)
}

// podStreamLocation is the node server URL for a pod subresource
// request: it checks what kube-apiserver checks (container, node
// assigned) and translates the query to the kubelet's parameters.
func (s *Server) podStreamLocation(r *http.Request, pod *corev1.Pod, sub string, q url.Values) (*url.URL, error) {
	var container string
	if sub != "portforward" {
		var err error
		if container, err = podContainer(pod, q.Get("container")); err != nil {
			return nil, err
		}
	}
	if pod.Spec.NodeName == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	host, err := s.nodeServerHost(r.Context(), pod.Spec.NodeName)
	if err != nil {
		return nil, err
	}
	out := url.Values{}
	var path string
	switch sub {
	case "log":
		path = "/containerLogs/" + pathJoin(pod.Namespace, pod.Name, container)
		for _, k := range []string{"follow", "previous", "timestamps", "tailLines", "limitBytes", "sinceSeconds", "sinceTime"} {
			if v := q.Get(k); v != "" {
				out.Set(k, v)
			}
		}
	case "exec", "attach":
		path = "/" + sub + "/" + pathJoin(pod.Namespace, pod.Name, container)
		for from, to := range map[string]string{"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"} {
			if b, _ := strconv.ParseBool(q.Get(from)); b {
				out.Set(to, "1")
			}
		}
		if sub == "exec" {
			if len(q["command"]) == 0 {
				return nil, apierrors.NewBadRequest("exec needs a command")
			}
			out["command"] = q["command"]
		}
	case "portforward":
		path = "/portForward/" + pathJoin(pod.Namespace, pod.Name)
		if p := q["ports"]; len(p) > 0 {
			out["port"] = p
		}
	}
	return &url.URL{Scheme: "https", Host: host, Path: path, RawQuery: out.Encode()}, nil
}

func pathJoin(segs ...string) string {
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// podContainer picks the container a request names, or the only one.
func podContainer(pod *corev1.Pod, name string) (string, error) {
	if name == "" {
		if len(pod.Spec.Containers) == 1 {
			return pod.Spec.Containers[0].Name, nil
		}
		var names []string
		for _, c := range pod.Spec.Containers {
			names = append(names, c.Name)
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", pod.Name, names))
	}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == name {
				return name, nil
			}
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// nodeServerHost is the node's InternalIP and node server port.
func (s *Server) nodeServerHost(ctx context.Context, nodeName string) (string, error) {
	res, ok := resources.Lookup(schema.GroupVersion{Version: "v1"}, "nodes")
	if !ok {
		return "", errors.New("nodes are not served")
	}
	kv, err := s.store.Get(ctx, storageKey(res, "", nodeName))
	if err != nil {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf("node %s of the pod: %v", nodeName, err))
	}
	obj, err := decodeStored(res, kv)
	if err != nil {
		return "", err
	}
	node := obj.(*corev1.Node)
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	var ip string
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			ip = a.Address
			break
		}
	}
	if ip == "" || port <= 0 {
		return "", apierrors.NewServiceUnavailable(fmt.Sprintf("node %s has no node server endpoint (InternalIP and daemonEndpoints.kubeletEndpoint.port): its agent has no serving certificate or has not started", nodeName))
	}
	return net.JoinHostPort(ip, strconv.Itoa(int(port))), nil
}

// proxyLog streams a container log from the node server, flushing as
// data arrives (kubectl logs -f).
func (s *Server) proxyLog(w http.ResponseWriter, r *http.Request, loc *url.URL, pod *corev1.Pod) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, loc.String(), nil)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp, err := s.nodeTransport().RoundTrip(req)
	if err != nil {
		s.writeError(w, r, nodeUnreachable(pod.Spec.NodeName, err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.writeError(w, r, nodeStatusError(resp))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// nodeStatusError turns a node server's error answer into an API error,
// keeping its Status (message, reason, code) when it sent one.
func nodeStatusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var st metav1.Status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" && st.Message != "" {
		if st.Code == 0 {
			st.Code = int32(resp.StatusCode)
		}
		return &apierrors.StatusError{ErrStatus: st}
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "get", podsGR, "", strings.TrimSpace(string(body)), 0, false)
}

func nodeUnreachable(node string, err error) error {
	return apierrors.NewServiceUnavailable(fmt.Sprintf("node %s is unreachable: %v", node, err))
}

// nodeResponder answers upgrade failures (node unreachable) as Status.
type nodeResponder struct {
	s    *Server
	node string
}

func (n nodeResponder) Error(w http.ResponseWriter, r *http.Request, err error) {
	n.s.writeError(w, r, nodeUnreachable(n.node, err))
}
