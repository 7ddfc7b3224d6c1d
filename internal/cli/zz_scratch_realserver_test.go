package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/switchyard-net/switchyard/controlplane/apiserver"
	"github.com/switchyard-net/switchyard/controlplane/store"
	"github.com/switchyard-net/switchyard/controlplane/validation"
	"github.com/switchyard-net/switchyard/ipam"
)

func TestScratchRealServer(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cidr := netip.MustParsePrefix("10.96.0.0/16")
	ips, _ := ipam.NewServiceIPs(st.Client(), cidr)
	ports, _ := ipam.NewNodePorts(st.Client(), 30000, 32767)
	srv, err := apiserver.New(apiserver.Config{Store: st, ServiceIPs: ips, NodePorts: ports,
		Validation: validation.Options{ServiceCIDRs: []netip.Prefix{cidr}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	cfg := &rest.Config{Host: hs.URL}
	s := IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stdout}
	step := func(name string, err error) {
		fmt.Printf("---- %s -> %s", name, FormatError(err))
		fmt.Println()
	}
	step("apply web", Apply(ctx, s, cfg, []string{"../../examples/web.yaml"}, ""))
	step("apply web again", Apply(ctx, s, cfg, []string{"../../examples/web.yaml"}, ""))
	step("apply invalid", Apply(ctx, s, cfg, []string{"../../examples/invalid"}, ""))
	step("get svc -n demo", Get(ctx, s, cfg, []string{"svc"}, GetOptions{Namespace: "demo"}))
	step("get svc -A -o wide", Get(ctx, s, cfg, []string{"svc"}, GetOptions{AllNamespaces: true, Output: "wide"}))
	step("get po,svc,ing -n demo", Get(ctx, s, cfg, []string{"po,svc,ing"}, GetOptions{Namespace: "demo"}))
	step("get ep -n demo", Get(ctx, s, cfg, []string{"ep"}, GetOptions{Namespace: "demo"}))
	step("get no", Get(ctx, s, cfg, []string{"no"}, GetOptions{}))
	step("get ns", Get(ctx, s, cfg, []string{"ns"}, GetOptions{}))
	step("get svc web -o yaml", Get(ctx, s, cfg, []string{"svc", "web"}, GetOptions{Namespace: "demo", Output: "yaml"}))
	step("get svc x", Get(ctx, s, cfg, []string{"svc", "x"}, GetOptions{}))
	step("get svc -l app=web -o name", Get(ctx, s, cfg, []string{"svc"}, GetOptions{Namespace: "demo", Output: "name", LabelSelector: "app=web"}))
	step("get svc --field-selector", Get(ctx, s, cfg, []string{"svc"}, GetOptions{Namespace: "demo", FieldSelector: "metadata.name=web"}))
	wctx, cancel := context.WithTimeout(ctx, 1500e6)
	step("get -w", Get(wctx, s, cfg, []string{"svc"}, GetOptions{Namespace: "demo", Watch: true}))
	cancel()
	step("delete svc web", Delete(ctx, s, cfg, []string{"svc", "web"}, DeleteOptions{Namespace: "demo"}))
	step("delete svc web", Delete(ctx, s, cfg, []string{"svc", "web"}, DeleteOptions{Namespace: "demo"}))
	step("delete -f", Delete(ctx, s, cfg, nil, DeleteOptions{Paths: []string{"../../examples/web.yaml"}}))
	step("version", Version(ctx, s, "dev", cfg))
}
