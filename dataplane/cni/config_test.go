package cni

import (
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/google/go-cmp/cmp"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *NetConf
	}{{
		name: "defaults",
		in:   `{"cniVersion":"1.1.0","name":"switchyard","type":"switchyard-cni"}`,
		want: &NetConf{CNIVersion: "1.1.0", Name: "switchyard", Type: "switchyard-cni", AgentSocket: DefaultAgentSocket},
	}, {
		name: "all keys and unknown ones",
		in: `{"cniVersion":"1.0.0","name":"n","type":"switchyard","agentSocket":"/run/sy/cni.sock","mtu":1450,
			"capabilities":{"portMappings":true},"runtimeConfig":{"x":1}}`,
		want: &NetConf{CNIVersion: "1.0.0", Name: "n", Type: "switchyard", AgentSocket: "/run/sy/cni.sock", MTU: 1450},
	}, {
		name: "empty valid-attachments is not absent",
		in:   `{"cniVersion":"1.1.0","name":"n","type":"switchyard-cni","cni.dev/valid-attachments":[]}`,
		want: &NetConf{CNIVersion: "1.1.0", Name: "n", Type: "switchyard-cni", AgentSocket: DefaultAgentSocket,
			ValidAttachments: []types.GCAttachment{}},
	}, {
		name: "legacy attachments key",
		in:   `{"cniVersion":"1.1.0","name":"n","type":"switchyard-cni","cni.dev/attachments":[{"containerID":"c","ifname":"eth0"}]}`,
		want: &NetConf{CNIVersion: "1.1.0", Name: "n", Type: "switchyard-cni", AgentSocket: DefaultAgentSocket,
			ValidAttachments: []types.GCAttachment{{ContainerID: "c", IfName: "eth0"}}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseConfigPrevResult(t *testing.T) {
	for _, ver := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		t.Run(ver, func(t *testing.T) {
			prev, err := fakeResult(5, "eth0", "/var/run/netns/x", 0).GetAsVersion(ver)
			if err != nil {
				t.Fatal(err)
			}
			conf := map[string]any{"cniVersion": ver, "name": "n", "type": PluginName, "prevResult": prev}
			data, _ := json.Marshal(conf)
			got, err := ParseConfig(data)
			if err != nil {
				t.Fatal(err)
			}
			if got.PrevResult == nil || got.PrevResult.CNIVersion != "1.1.0" || len(got.PrevResult.IPs) != 1 ||
				!got.PrevResult.IPs[0].Address.IP.Equal(net.IPv4(10, 244, 1, 5)) {
				t.Errorf("prevResult %+v", got.PrevResult)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	long := "/" + strings.Repeat("d", maxSocketPath)
	tests := []struct {
		name string
		in   string
		code uint
	}{
		{"not json", `{`, types.ErrDecodingFailure},
		{"wrong type for mtu", `{"name":"n","type":"switchyard-cni","mtu":"big"}`, types.ErrDecodingFailure},
		{"no name", `{"cniVersion":"1.1.0","type":"switchyard-cni"}`, types.ErrInvalidNetworkConfig},
		{"bad name", `{"name":"a b","type":"switchyard-cni"}`, types.ErrInvalidNetworkConfig},
		{"other plugin", `{"name":"n","type":"bridge"}`, types.ErrInvalidNetworkConfig},
		{"relative socket", `{"name":"n","type":"switchyard-cni","agentSocket":"cni.sock"}`, types.ErrInvalidNetworkConfig},
		{"long socket", `{"name":"n","type":"switchyard-cni","agentSocket":"` + long + `"}`, types.ErrInvalidNetworkConfig},
		{"small mtu", `{"name":"n","type":"switchyard-cni","mtu":67}`, types.ErrInvalidNetworkConfig},
		{"negative mtu", `{"name":"n","type":"switchyard-cni","mtu":-1}`, types.ErrInvalidNetworkConfig},
		{"huge mtu", `{"name":"n","type":"switchyard-cni","mtu":65536}`, types.ErrInvalidNetworkConfig},
		{"bad prevResult", `{"cniVersion":"1.1.0","name":"n","type":"switchyard-cni","prevResult":{"ips":[{"address":"x"}]}}`, types.ErrDecodingFailure},
		{"prevResult wrong version", `{"cniVersion":"9.9.9","name":"n","type":"switchyard-cni","prevResult":{}}`, types.ErrDecodingFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.in))
			if err == nil {
				t.Fatal("no error")
			}
			if code := cniCode(t, err); code != tc.code {
				t.Errorf("code %d (%v), want %d", code, err, tc.code)
			}
		})
	}
}

func TestParseArgs(t *testing.T) {
	got, err := ParseArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;;EMPTY=")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"IgnoreUnknown": "1", "K8S_POD_NAMESPACE": "default", "K8S_POD_NAME": "web-0", "EMPTY": ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got, err := ParseArgs(""); got != nil || err != nil {
		t.Errorf(`ParseArgs("") = %v, %v`, got, err)
	}
	for _, bad := range []string{"novalue", "=v", "a=1;b"} {
		_, err := ParseArgs(bad)
		if err == nil {
			t.Errorf("ParseArgs(%q) succeeded", bad)
			continue
		}
		if code := cniCode(t, err); code != types.ErrInvalidEnvironmentVariables {
			t.Errorf("ParseArgs(%q): code %d", bad, code)
		}
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{"cniVersion":"1.1.0","name":"switchyard","type":"switchyard-cni"}`,
		`{"cniVersion":"1.1.0","name":"n","type":"switchyard","agentSocket":"/a/b.sock","mtu":1500}`,
		`{"cniVersion":"0.4.0","name":"n","type":"switchyard-cni","prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.2/24"}]}}`,
		`{"cniVersion":"1.1.0","name":"n","type":"switchyard-cni","cni.dev/valid-attachments":[{"containerID":"c","ifname":"eth0"}]}`,
		`{"name":"n","type":"switchyard-cni","prevResult":{"interfaces":[{"name":"eth0"}],"ips":[{"interface":7,"address":"::1/128"}]}}`,
		`{"name":"n","mtu":1e9}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		conf, err := ParseConfig(data)
		if err != nil {
			var e *types.Error
			if !errors.As(err, &e) || (e.Code != types.ErrDecodingFailure && e.Code != types.ErrInvalidNetworkConfig) {
				t.Fatalf("error %v is not a CNI config error", err)
			}
			return
		}
		if conf.Name == "" || !filepath.IsAbs(conf.AgentSocket) || len(conf.AgentSocket) > maxSocketPath {
			t.Fatalf("accepted invalid config %+v", conf)
		}
		if conf.MTU != 0 && (conf.MTU < minMTU || conf.MTU > maxMTU) {
			t.Fatalf("accepted mtu %d", conf.MTU)
		}
		if conf.PrevResult != nil {
			// A parsed prevResult must survive the trip to the agent.
			if _, err := json.Marshal(CheckRequest{PrevResult: conf.PrevResult}); err != nil {
				t.Fatalf("prevResult does not encode: %v", err)
			}
		}
	})
}
