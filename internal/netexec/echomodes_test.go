package netexec

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	pb "sigs.k8s.io/gateway-api/conformance/echo-basic/grpcechoserver"
)

// The echo-basic gRPC mode answers the suite's GrpcEcho client with the
// method, authority and pod context it saw; EchoThree is unimplemented, as
// in the image.
func TestGRPCEcho(t *testing.T) {
	s, err := ListenGRPCEcho(GRPCEchoConfig{HTTPPort: "0", Context: EchoContext{Namespace: "ns1", Pod: "pod-a"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	conn, err := grpc.NewClient(s.Addrs()[0].String(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithAuthority("grpc.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewGrpcEchoClient(conn)
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	resp, err := c.EchoTwo(rctx, &pb.EchoRequest{})
	if err != nil {
		t.Fatalf("EchoTwo: %v", err)
	}
	a := resp.GetAssertions()
	if a.GetFullyQualifiedMethod() != "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/EchoTwo" || a.GetAuthority() != "grpc.example.com" ||
		a.GetContext().GetNamespace() != "ns1" || a.GetContext().GetPod() != "pod-a" {
		t.Errorf("assertions = %v", a)
	}
	if _, err := c.EchoThree(rctx, &pb.EchoRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("EchoThree: %v, want Unimplemented", err)
	}
}

// The TCP mode greets, answers TEST with its JSON and PING with PONG.
func TestTCPEcho(t *testing.T) {
	s, err := ListenTCPEcho(TCPEchoConfig{TCPPort: "0", Context: EchoContext{Namespace: "ns1"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if l, _ := r.ReadString('\n'); l != "Gateway API Test TCP Server\n" {
		t.Errorf("greeting %q", l)
	}
	c.Write([]byte("TEST\nPING\n"))
	l, _ := r.ReadString('\n')
	var got struct {
		Namespace string `json:"namespace"`
		IsTLS     bool   `json:"isTLS"`
	}
	if err := json.Unmarshal([]byte(l), &got); err != nil || got.Namespace != "ns1" || got.IsTLS {
		t.Errorf("TEST answer %q (%v)", l, err)
	}
	if l, _ := r.ReadString('\n'); l != "PONG\n" {
		t.Errorf("PING answer %q", l)
	}
}

// The conformance suite's Corefile: whoami for foo.bar.com, forward for
// the rest; an unknown plugin is refused by name.
func TestCoreDNS(t *testing.T) {
	blocks, err := ParseCorefile(strings.NewReader(".:53 {\n    forward . 8.8.8.8 9.9.9.9\n    log\n    errors\n}\nfoo.bar.com:53 {\n  whoami\n}\n"))
	if err != nil || len(blocks) != 2 || !blocks[1].WhoAmI || blocks[0].Forward[1] != "9.9.9.9:53" {
		t.Fatalf("ParseCorefile = %+v, %v", blocks, err)
	}
	if _, err := ParseCorefile(strings.NewReader(". {\n kubernetes cluster.local\n}\n")); err == nil || !strings.Contains(err.Error(), `"kubernetes"`) {
		t.Errorf("unknown plugin: %v", err)
	}
	blocks, _ = ParseCorefile(strings.NewReader("foo.bar.com:0 {\n whoami\n}\n"))
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan []net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- RunCoreDNS(ctx, blocks, func(a []net.Addr) { addrs <- a }) }()
	defer func() { cancel(); <-done }()
	udp := (<-addrs)[0].(*net.UDPAddr)
	server := net.JoinHostPort("127.0.0.1", strconv.Itoa(udp.Port))
	m := new(dns.Msg)
	m.SetQuestion("foo.bar.com.", dns.TypeA)
	r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, server)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := r.Extra[0].(*dns.A); len(r.Extra) != 2 || !ok || a.A.String() != "127.0.0.1" {
		t.Errorf("whoami answer %v", r)
	}
	m.SetQuestion("other.example.", dns.TypeA)
	if r, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(m, server); err != nil || r.Rcode != dns.RcodeRefused {
		t.Errorf("name outside the zones: %v %v", r, err)
	}
}

func FuzzParseCorefile(f *testing.F) {
	f.Add(".:53 {\n forward . 1.1.1.1\n}\nfoo:5353 {\n whoami\n}\n")
	f.Fuzz(func(t *testing.T, s string) { _, _ = ParseCorefile(strings.NewReader(s)) })
}
