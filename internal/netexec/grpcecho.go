package netexec

// echo-basic's gRPC mode (GRPC_ECHO_SERVER set): the backend of the Gateway
// API conformance suite's GRPCRoute tests. It serves the suite's own
// GrpcEcho service (the messages and service descriptors are imported from
// the suite's module, so the wire format cannot drift) over cleartext
// HTTP/2 on HTTP_PORT and, with TLS_SERVER_CERT and TLS_SERVER_PRIV_KEY, over
// TLS on HTTPS_PORT. Echo and EchoTwo answer with what the server saw: the
// fully qualified method, every metadata entry (:authority included), the
// authority, the pod context and, over TLS, the TLS assertions; EchoThree
// stays unimplemented, as in the image, so a test can tell a route that
// sent a call to the wrong method. Behaviour learned from the upstream
// echo-basic source; the code is ours.

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	pb "sigs.k8s.io/gateway-api/conformance/echo-basic/grpcechoserver"
)

// GRPCEchoConfig configures [ListenGRPCEcho]; [GRPCEchoFromEnv] fills it
// from the image's environment variables.
type GRPCEchoConfig struct {
	HTTPPort, HTTPSPort string // HTTP_PORT (3000), HTTPS_PORT (8443)
	CertFile, KeyFile   string // TLS_SERVER_CERT, TLS_SERVER_PRIV_KEY
	Context             EchoContext
	Log                 io.Writer
}

// GRPCEchoFromEnv reads the gRPC mode's environment variables (note the
// key's variable is TLS_SERVER_PRIV_KEY here, not the HTTP mode's
// TLS_SERVER_PRIVKEY, as in the image).
func GRPCEchoFromEnv(getenv func(string) string) GRPCEchoConfig {
	http := EchoBasicFromEnv(getenv)
	return GRPCEchoConfig{
		HTTPPort: http.HTTPPort, HTTPSPort: http.HTTPSPort,
		CertFile: getenv("TLS_SERVER_CERT"), KeyFile: getenv("TLS_SERVER_PRIV_KEY"),
		Context: http.Context,
	}
}

// GRPCEcho is a listening gRPC echo server.
type GRPCEcho struct {
	servers   []*grpc.Server
	listeners []net.Listener
}

// ListenGRPCEcho binds the plaintext listener and, when a certificate is
// configured, the TLS one.
func ListenGRPCEcho(cfg GRPCEchoConfig) (*GRPCEcho, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	g := &GRPCEcho{}
	add := func(port string, creds credentials.TransportCredentials) error {
		l, err := net.Listen("tcp", net.JoinHostPort("", port))
		if err != nil {
			return fmt.Errorf("grpc echo: listen on %s: %w", port, err)
		}
		var opts []grpc.ServerOption
		if creds != nil {
			opts = append(opts, grpc.Creds(creds))
		}
		s := grpc.NewServer(opts...)
		pb.RegisterGrpcEchoServer(s, &grpcEchoServer{tls: creds != nil, ctx: cfg.Context, log: cfg.Log})
		reflection.Register(s)
		g.servers, g.listeners = append(g.servers, s), append(g.listeners, l)
		return nil
	}
	if err := add(cfg.HTTPPort, nil); err != nil {
		return nil, err
	}
	if cfg.CertFile != "" && cfg.KeyFile != "" {
		creds, err := credentials.NewServerTLSFromFile(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("grpc echo: load TLS key pair: %w", err)
		}
		if err := add(cfg.HTTPSPort, creds); err != nil {
			g.close()
			return nil, err
		}
	}
	return g, nil
}

// Addrs are the bound addresses, plaintext first.
func (g *GRPCEcho) Addrs() []net.Addr {
	out := make([]net.Addr, len(g.listeners))
	for i, l := range g.listeners {
		out[i] = l.Addr()
	}
	return out
}

// Serve serves until ctx ends, then stops the servers.
func (g *GRPCEcho) Serve(ctx context.Context) error {
	errc := make(chan error, len(g.servers))
	for i, s := range g.servers {
		go func() { errc <- s.Serve(g.listeners[i]) }()
	}
	select {
	case <-ctx.Done():
		g.close()
		return nil
	case err := <-errc:
		g.close()
		return fmt.Errorf("grpc echo: %w", err)
	}
}

func (g *GRPCEcho) close() {
	for _, s := range g.servers {
		s.Stop()
	}
	for _, l := range g.listeners {
		l.Close()
	}
}

type grpcEchoServer struct {
	pb.UnimplementedGrpcEchoServer
	tls bool
	ctx EchoContext
	log io.Writer
}

// grpcEchoService is the full name of the suite's echo service.
var grpcEchoService = string(pb.File_grpcecho_proto.Services().ByName("GrpcEcho").FullName())

func (s *grpcEchoServer) Echo(ctx context.Context, in *pb.EchoRequest) (*pb.EchoResponse, error) {
	return s.echo(ctx, "Echo")
}

func (s *grpcEchoServer) EchoTwo(ctx context.Context, in *pb.EchoRequest) (*pb.EchoResponse, error) {
	return s.echo(ctx, "EchoTwo")
}

func (s *grpcEchoServer) echo(ctx context.Context, method string) (*pb.EchoResponse, error) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return nil, errors.New("no metadata in the request")
	}
	a := &pb.Assertions{
		FullyQualifiedMethod: "/" + grpcEchoService + "/" + method,
		Context:              &pb.Context{Namespace: s.ctx.Namespace, Ingress: s.ctx.Ingress, ServiceName: s.ctx.Service, Pod: s.ctx.Pod},
	}
	for k, vs := range md {
		for _, v := range vs {
			if k == ":authority" {
				a.Authority = v
			}
			a.Headers = append(a.Headers, &pb.Header{Key: k, Value: v})
		}
	}
	if s.tls {
		ta, err := grpcTLSAssertions(ctx)
		if err != nil {
			return nil, err
		}
		a.TlsAssertions = ta
	}
	fmt.Fprintf(s.log, "grpc %s authority=%q tls=%v\n", a.FullyQualifiedMethod, a.Authority, s.tls)
	return &pb.EchoResponse{Assertions: a}, nil
}

func grpcTLSAssertions(ctx context.Context) (*pb.TLSAssertions, error) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, errors.New("no peer in the request")
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil, errors.New("no TLS state in the request")
	}
	st := info.State
	ta := &pb.TLSAssertions{
		Version:            tlsVersions[st.Version],
		NegotiatedProtocol: st.NegotiatedProtocol,
		ServerName:         st.ServerName,
		CipherSuite:        tls.CipherSuiteName(st.CipherSuite),
	}
	for _, c := range st.PeerCertificates {
		var b strings.Builder
		if err := pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}); err == nil {
			ta.PeerCertificates = append(ta.PeerCertificates, b.String())
		}
	}
	return ta, nil
}
