package cni

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	types040 "github.com/containernetworking/cni/pkg/types/040"
)

func TestInvoked(t *testing.T) {
	env := func(cmd string) func(string) string {
		return func(k string) string {
			if k == "CNI_COMMAND" {
				return cmd
			}
			return ""
		}
	}
	tests := []struct {
		argv0, cmd string
		want       bool
	}{
		{"/opt/cni/bin/switchyard-cni", "", true},
		{"switchyard-cni", "ADD", true},
		{"/usr/local/bin/switchyard", "VERSION", true},
		{"/usr/local/bin/switchyard", "", false},
		{"switchyard-cni-old", "", false},
	}
	for _, tc := range tests {
		if got := Invoked(tc.argv0, env(tc.cmd)); got != tc.want {
			t.Errorf("Invoked(%q, CNI_COMMAND=%q) = %v", tc.argv0, tc.cmd, got)
		}
	}
}

func confJSON(t *testing.T, version, sock string, extra map[string]any) []byte {
	t.Helper()
	conf := map[string]any{"cniVersion": version, "name": "switchyard", "type": PluginName, "agentSocket": sock}
	for k, v := range extra {
		conf[k] = v
	}
	data, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestPluginAddConvertsResult(t *testing.T) {
	fake := newFakeBackend()
	sock := startAgent(t, fake)
	var out bytes.Buffer
	p := &plugin{stdout: &out}
	err := p.add(&skel.CmdArgs{
		ContainerID: "c1", IfName: "eth0", Netns: "/var/run/netns/p1",
		Args:      "IgnoreUnknown=1;K8S_POD_NAME=p1",
		StdinData: confJSON(t, "0.4.0", sock, map[string]any{"mtu": 1450}),
	})
	if err != nil {
		t.Fatal(err)
	}
	var res types040.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("result %s: %v", out.Bytes(), err)
	}
	if res.CNIVersion != "0.4.0" || len(res.IPs) != 1 || res.IPs[0].Address.String() != "10.244.1.2/24" {
		t.Errorf("result %s", out.Bytes())
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if got := fake.adds[0]; got.MTU != 1450 || got.Args["K8S_POD_NAME"] != "p1" || got.Network != "switchyard" {
		t.Errorf("agent saw %+v", got)
	}
}

func TestPluginErrors(t *testing.T) {
	fake := newFakeBackend()
	sock := startAgent(t, fake)
	down := shortTempDir(t) + "/down.sock"
	p := &plugin{stdout: &bytes.Buffer{}}
	args := func(data []byte, cniArgs string) *skel.CmdArgs {
		return &skel.CmdArgs{ContainerID: "c1", IfName: "eth0", Netns: "/x", Args: cniArgs, StdinData: data}
	}
	tests := []struct {
		name string
		run  func(*skel.CmdArgs) error
		args *skel.CmdArgs
		code uint
	}{
		{"check without prevResult", p.check, args(confJSON(t, "1.1.0", sock, nil), ""), types.ErrInvalidNetworkConfig},
		{"gc without list", p.gc, args(confJSON(t, "1.1.0", sock, nil), ""), types.ErrInvalidNetworkConfig},
		{"bad CNI_ARGS", p.add, args(confJSON(t, "1.1.0", sock, nil), "junk"), types.ErrInvalidEnvironmentVariables},
		{"bad config", p.del, args([]byte(`{"name":"n","type":"x"}`), ""), types.ErrInvalidNetworkConfig},
		{"add into own netns", p.add, &skel.CmdArgs{ContainerID: "c1", IfName: "eth0", Netns: "/proc/self/ns/net",
			StdinData: confJSON(t, "1.1.0", sock, nil)}, types.ErrInvalidNetNS},
		{"add, agent down", p.add, args(confJSON(t, "1.1.0", down, nil), ""), types.ErrTryAgainLater},
		{"del, agent down", p.del, args(confJSON(t, "1.1.0", down, nil), ""), types.ErrTryAgainLater},
		{"gc, agent down", p.gc, args(confJSON(t, "1.1.0", down, map[string]any{"cni.dev/valid-attachments": []any{}}), ""), types.ErrTryAgainLater},
		{"status, agent down", p.status, args(confJSON(t, "1.1.0", down, nil), ""), types.ErrPluginNotAvailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run(tc.args)
			if err == nil {
				t.Fatal("no error")
			}
			if code := cniCode(t, err); code != tc.code {
				t.Errorf("code %d (%v), want %d", code, err, tc.code)
			}
		})
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.adds)+len(fake.dels)+len(fake.checks)+len(fake.gcs) != 0 {
		t.Error("the agent was called for a request the plugin should have refused")
	}
}
