package bench

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-net/switchyard/internal/sandbox"
)

// nginxIngress is the peer of `bench rollout`: nginx as the ingress,
// reloading its upstream list from the Service's EndpointSlices the way
// an nginx-based ingress controller that reloads does (ingress-nginx
// before its Lua balancer, 0.18; the NGINX Inc. controller on nginx OSS):
// on every EndpointSlice change it renders the upstream block with the
// ready endpoints (max_fails=0, keepalive 32, as ingress-nginx generated
// it), writes it and sends the master SIGHUP, which is `nginx -s reload`:
// new workers start with the new list, old ones finish their in-flight
// requests and close their idle connections. Like switchyard's ingress
// (and ingress-nginx by default) it writes an access log line per request
// (buffered, to a file).
type nginxIngress struct {
	dir, upstreams string
	port           int
	targetPort     int32
	cmd            *sandbox.Cmd

	mu      sync.Mutex
	last    []string
	reloads int
}

const rollNginxPort = 8088

func startNginxIngress(ctx context.Context, ns *sandbox.NS, procs *procSet, dir string, targetPort int32) (*nginxIngress, error) {
	n := &nginxIngress{dir: dir, upstreams: filepath.Join(dir, "upstreams.conf"), port: rollNginxPort, targetPort: targetPort}
	if err := n.writeUpstreams(nil); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 16384; }
http {
  log_format json escape=json '{"time":"$time_iso8601","client":"$remote_addr","method":"$request_method","host":"$host","path":"$uri","status":$status,"bytes":$body_bytes_sent,"endpoint":"$upstream_addr","duration":$request_time}';
  access_log %[1]s/access.log json buffer=64k flush=1s;
  client_body_temp_path %[1]s/tmp-body;
  proxy_temp_path %[1]s/tmp-proxy;
  fastcgi_temp_path %[1]s/tmp-fastcgi;
  uwsgi_temp_path %[1]s/tmp-uwsgi;
  scgi_temp_path %[1]s/tmp-scgi;
  keepalive_timeout 75s;
  include %[2]s;
  server {
    listen 127.0.0.1:%[3]d backlog=4096;
    location / {
      proxy_pass http://roll;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_connect_timeout 5s;
      proxy_next_upstream error timeout;
    }
  }
}
`, dir, n.upstreams, n.port)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	cmd, err := procs.start(ctx, ns, "", "nginx", "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	if err != nil {
		return nil, err
	}
	n.cmd = cmd
	return n, nil
}

// writeUpstreams renders the upstream block for addrs (pod IPs).
func (n *nginxIngress) writeUpstreams(addrs []string) error {
	var b strings.Builder
	b.WriteString("upstream roll {\n")
	for _, a := range addrs {
		fmt.Fprintf(&b, "  server %s max_fails=0;\n", net.JoinHostPort(a, strconv.Itoa(int(n.targetPort))))
	}
	if len(addrs) == 0 {
		b.WriteString("  server 127.0.0.1:9 down;\n") // no endpoint: 502, as an empty upstream cannot be written
	}
	b.WriteString("  keepalive 32;\n}\n")
	tmp := n.upstreams + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, n.upstreams)
}

// sync follows the EndpointSlices of service until ctx ends, reloading
// nginx when its ready endpoints change.
func (n *nginxIngress) sync(ctx context.Context, c kubernetes.Interface, ns, service string) {
	sel := metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service}
	slices_ := map[string]*discoveryv1.EndpointSlice{}
	for ctx.Err() == nil {
		list, err := c.DiscoveryV1().EndpointSlices(ns).List(ctx, sel)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		clear(slices_)
		for i := range list.Items {
			slices_[list.Items[i].Name] = &list.Items[i]
		}
		n.apply(slices_)
		sel.ResourceVersion = list.ResourceVersion
		w, err := c.DiscoveryV1().EndpointSlices(ns).Watch(ctx, sel)
		if err != nil {
			continue
		}
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok {
				break
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				slices_[s.Name] = s
			case watch.Deleted:
				delete(slices_, s.Name)
			}
			n.apply(slices_)
		}
		w.Stop()
		sel.ResourceVersion = ""
	}
}

// apply reloads nginx when the ready endpoints differ from the last ones.
func (n *nginxIngress) apply(all map[string]*discoveryv1.EndpointSlice) {
	addrs := nginxAddrs(all)
	n.mu.Lock()
	defer n.mu.Unlock()
	if slices.Equal(addrs, n.last) && n.reloads > 0 {
		return
	}
	n.last = addrs
	if err := n.writeUpstreams(addrs); err != nil {
		return
	}
	if syscall.Kill(n.cmd.Process.Pid, syscall.SIGHUP) == nil {
		n.reloads++
	}
}

func (n *nginxIngress) reloadCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reloads
}

// nginxAddrs lists the ready endpoint addresses of the slices, as an
// nginx-based ingress controller puts them in its upstream block.
func nginxAddrs(all map[string]*discoveryv1.EndpointSlice) []string {
	var addrs []string
	for _, s := range all {
		for _, e := range s.Endpoints {
			if len(e.Addresses) > 0 && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				addrs = append(addrs, e.Addresses[0])
			}
		}
	}
	return sortedUnique(addrs)
}

func sortedUnique(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
