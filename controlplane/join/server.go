package join

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/switchyard-net/switchyard/controlplane/pki"
	"github.com/switchyard-net/switchyard/controlplane/store"
)

// maxRequestBytes bounds a join request body.
const maxRequestBytes = 64 << 10

// nodeCertValidity is the validity of a worker's client certificate.
const nodeCertValidity = 365 * 24 * time.Hour

// Server answers join requests. Its fields are read-only after creation.
type Server struct {
	Bundle *pki.Bundle
	// Token returns the cluster's join token.
	Token func(ctx context.Context) (StoredToken, error)
	// AddMember adds an etcd member (store.Store.AddMember).
	AddMember func(ctx context.Context, name, peerURL string) (initialCluster string, err error)
	// Servers lists the control planes' API URLs.
	Servers func(ctx context.Context) ([]string, error)
	Log     *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Handles reports whether the path is one of the join protocol's.
func Handles(path string) bool { return path == CAPath || path == JoinPath }

// ServeHTTP serves CAPath and JoinPath.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == CAPath && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(s.Bundle.CACertPEM)
	case r.URL.Path == JoinPath && r.Method == http.MethodPost:
		resp, code, err := s.join(r)
		if err != nil {
			writeStatus(w, code, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
	default:
		writeStatus(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on "+r.URL.Path)
	}
}

// errUnauthorized is the one answer to every bad token, so that a caller
// learns nothing about which part was wrong.
var errUnauthorized = errors.New("join token rejected: it is not this cluster's token")

// join checks the token first and the request second; only then does it
// change anything.
func (s *Server) join(r *http.Request) (*Response, int, error) {
	ctx := r.Context()
	if code, err := s.authorize(r); err != nil {
		if s.Log != nil {
			s.Log.Warn("join refused", "remote", r.RemoteAddr, "err", err)
		}
		return nil, code, err
	}
	var req Request
	if err := json.NewDecoder(io.LimitReader(r.Body, maxRequestBytes)).Decode(&req); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("join request: %w", err)
	}
	ip, err := req.validate()
	if err != nil {
		return nil, http.StatusUnprocessableEntity, err
	}
	resp := &Response{CACert: s.Bundle.CACertPEM}
	if s.Servers != nil {
		if resp.Servers, err = s.Servers(ctx); err != nil {
			return nil, http.StatusServiceUnavailable, err
		}
	}
	if req.ControlPlane {
		return s.joinControlPlane(ctx, req, ip, resp)
	}
	cert, err := s.Bundle.SignCSR(req.CSR, "system:node:"+req.NodeName, []string{pki.NodesGroup}, nodeCertValidity)
	if err != nil {
		return nil, http.StatusUnprocessableEntity, err
	}
	resp.ClientCert = cert
	if len(req.ServingCSR) > 0 {
		var ips []net.IP
		if ip := net.ParseIP(req.NodeIP); ip != nil {
			ips = append(ips, ip)
		}
		resp.ServingCert, err = s.Bundle.SignServingCSR(req.ServingCSR, "system:node:"+req.NodeName, []string{pki.NodesGroup}, []string{req.NodeName}, ips, nodeCertValidity)
		if err != nil {
			return nil, http.StatusUnprocessableEntity, err
		}
	}
	s.logJoin("worker", req)
	return resp, http.StatusOK, nil
}

func (s *Server) joinControlPlane(ctx context.Context, req Request, ip net.IP, resp *Response) (*Response, int, error) {
	shared, err := s.Bundle.Shared()
	if err != nil {
		return nil, http.StatusInternalServerError, err
	}
	peerURL := "https://" + net.JoinHostPort(ip.String(), fmt.Sprint(store.PeerPort))
	resp.InitialCluster, err = s.AddMember(ctx, req.NodeName, peerURL)
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, store.ErrMemberConflict) {
			code = http.StatusConflict
		}
		return nil, code, fmt.Errorf("add etcd member %s: %w", req.NodeName, err)
	}
	resp.Shared = &shared
	s.logJoin("control plane", req)
	return resp, http.StatusOK, nil
}

func (s *Server) logJoin(role string, req Request) {
	if s.Log != nil {
		s.Log.Info("node joined", "role", role, "node", req.NodeName, "ip", req.NodeIP)
	}
}

// authorize checks the bearer token against the cluster's.
func (s *Server) authorize(r *http.Request) (int, error) {
	cred, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return http.StatusUnauthorized, errors.New("join needs the join token as bearer token")
	}
	id, secret, err := pki.ParseCredential(cred)
	if err != nil {
		return http.StatusUnauthorized, errUnauthorized
	}
	st, err := s.Token(r.Context())
	if err != nil {
		return http.StatusServiceUnavailable, fmt.Errorf("read join token: %w", err)
	}
	tok, err := pki.ParseToken(st.Token)
	if err != nil {
		return http.StatusInternalServerError, fmt.Errorf("stored join token: %w", err)
	}
	if !tok.Matches(id, secret) {
		return http.StatusUnauthorized, errUnauthorized
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	if !st.Expires.IsZero() && now().After(st.Expires) {
		return http.StatusUnauthorized, fmt.Errorf("join token expired at %s", st.Expires.Format(time.RFC3339))
	}
	return 0, nil
}

// validate checks the node name and address.
func (req Request) validate() (net.IP, error) {
	if errs := validation.IsDNS1123Subdomain(req.NodeName); len(errs) > 0 {
		return nil, fmt.Errorf("nodeName %q: %s", req.NodeName, strings.Join(errs, "; "))
	}
	ip := net.ParseIP(req.NodeIP)
	if req.ControlPlane && (ip == nil || ip.IsUnspecified()) {
		return nil, fmt.Errorf("nodeIP %q: a control plane needs its address (--node-ip)", req.NodeIP)
	}
	if !req.ControlPlane && len(req.CSR) == 0 {
		return nil, errors.New("csr: a worker needs a certificate request")
	}
	return ip, nil
}

// writeStatus answers with a Kubernetes Status.
func writeStatus(w http.ResponseWriter, code int, msg string) {
	st := metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Code: int32(code), Message: msg,
		Reason: metav1.StatusReason(http.StatusText(code)),
	}
	switch code {
	case http.StatusUnauthorized:
		st.Reason = metav1.StatusReasonUnauthorized
	case http.StatusConflict:
		st.Reason = metav1.StatusReasonConflict
	case http.StatusServiceUnavailable:
		st.Reason = metav1.StatusReasonServiceUnavailable
	case http.StatusUnprocessableEntity:
		st.Reason = metav1.StatusReasonInvalid
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(&st)
}
