package services

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// healthTarget is what one healthCheckNodePort reports: the Service and
// its ready local endpoints.
type healthTarget struct {
	service types.NamespacedName
	local   int
}

// healthTargets lists, by healthCheckNodePort, each externalTrafficPolicy
// Local Service with the number of distinct ready (not terminating) local
// endpoints over its ports, as kube-proxy counts them.
func healthTargets(st *State) map[uint16]healthTarget {
	out := map[uint16]healthTarget{}
	seen := map[uint16]map[Endpoint]bool{}
	for _, sp := range st.Ports {
		if !sp.ExternalLocal || sp.HealthCheckNodePort == 0 {
			continue
		}
		hc := sp.HealthCheckNodePort
		if seen[hc] == nil {
			seen[hc] = map[Endpoint]bool{}
		}
		t := healthTarget{service: types.NamespacedName{Namespace: sp.Name.Namespace, Name: sp.Name.Name}}
		for _, e := range sp.ExternalEndpoints {
			if e.Local && !e.Terminating {
				seen[hc][Endpoint{Addr: e.Addr}] = true
			}
		}
		t.local = len(seen[hc])
		out[hc] = t
	}
	return out
}

// healthServers runs one HTTP server per healthCheckNodePort, answering
// like kube-proxy's service health server: 200 while the Service has a
// ready local endpoint, 503 otherwise, so an external load-balancer only
// sends externalTrafficPolicy Local traffic to nodes that can serve it.
// Safe for concurrent use; mu guards servers.
type healthServers struct {
	host string
	log  *slog.Logger
	mu   sync.Mutex
	// servers by port.
	servers map[uint16]*healthServer
}

type healthServer struct {
	srv     *http.Server
	service atomic.Pointer[types.NamespacedName]
	local   atomic.Int64
	done    chan struct{}
}

func newHealthServers(host string, log *slog.Logger) *healthServers {
	return &healthServers{host: host, log: log, servers: map[uint16]*healthServer{}}
}

// update opens servers for new ports, closes those of ports gone and sets
// every server's answer. A port that cannot be opened is retried on the
// next update.
func (h *healthServers) update(want map[uint16]healthTarget) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for port, s := range h.servers {
		if _, ok := want[port]; !ok {
			s.close()
			delete(h.servers, port)
		}
	}
	for port, t := range want {
		s := h.servers[port]
		if s == nil {
			var err error
			if s, err = h.open(port); err != nil {
				h.log.Warn("healthCheckNodePort", "port", port, "service", t.service.String(), "err", err)
				continue
			}
			h.servers[port] = s
		}
		svc := t.service
		s.service.Store(&svc)
		s.local.Store(int64(t.local))
	}
}

func (h *healthServers) open(port uint16) (*healthServer, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(h.host, strconv.Itoa(int(port))))
	if err != nil {
		return nil, err
	}
	s := &healthServer{done: make(chan struct{})}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			h.log.Warn("healthCheckNodePort server stopped", "port", port, "err", err)
		}
	}()
	return s, nil
}

func (s *healthServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
	<-s.done
}

// closeAll stops every server.
func (h *healthServers) closeAll() { h.update(nil) }

// healthReply is kube-proxy's answer body.
type healthReply struct {
	Service struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"service"`
	LocalEndpoints      int  `json:"localEndpoints"`
	ServiceProxyHealthy bool `json:"serviceProxyHealthy"`
}

func (s *healthServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	var r healthReply
	if svc := s.service.Load(); svc != nil {
		r.Service.Namespace, r.Service.Name = svc.Namespace, svc.Name
	}
	r.LocalEndpoints = int(s.local.Load())
	r.ServiceProxyHealthy = true
	body, _ := json.Marshal(r)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Load-Balancing-Endpoint-Weight", strconv.Itoa(r.LocalEndpoints))
	if r.LocalEndpoints > 0 {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	w.Write(append(body, '\n'))
}
