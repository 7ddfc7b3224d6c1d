package cni

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/switchyard-net/switchyard/dataplane/cni/relay"
)

// TestInvokeErrors: a relayed invocation is refused with the codes skel
// gives in the plugin's process, before the backend is asked.
func TestInvokeErrors(t *testing.T) {
	fake := newFakeBackend()
	sock := startAgent(t, fake)
	conf := func(version string, extra string) string {
		return `{"cniVersion":"` + version + `","name":"switchyard","type":"switchyard-cni","agentSocket":"` + sock + `"` + extra + `}`
	}
	env := func(cmd string, drop string, set ...string) map[string]string {
		e := map[string]string{"CNI_COMMAND": cmd, "CNI_CONTAINERID": "c1", "CNI_IFNAME": "eth0", "CNI_NETNS": "/x", "CNI_PATH": "/opt/cni/bin"}
		delete(e, drop)
		for i := 0; i+1 < len(set); i += 2 {
			e[set[i]] = set[i+1]
		}
		return e
	}
	tests := []struct {
		name   string
		env    map[string]string
		config string
		code   uint
	}{
		{"add without container ID", env("ADD", "CNI_CONTAINERID"), conf("1.1.0", ""), types.ErrInvalidEnvironmentVariables},
		{"add without netns", env("ADD", "CNI_NETNS"), conf("1.1.0", ""), types.ErrInvalidEnvironmentVariables},
		{"del without CNI_PATH", env("DEL", "CNI_PATH"), conf("1.1.0", ""), types.ErrInvalidEnvironmentVariables},
		{"bad container ID", env("ADD", "", "CNI_CONTAINERID", "a/b"), conf("1.1.0", ""), types.ErrInvalidEnvironmentVariables},
		{"bad interface name", env("ADD", "", "CNI_IFNAME", "a/b"), conf("1.1.0", ""), types.ErrInvalidEnvironmentVariables},
		{"unknown command", env("FROB", ""), conf("1.1.0", ""), types.ErrInvalidEnvironmentVariables},
		{"no network name", env("ADD", ""), `{"cniVersion":"1.1.0","type":"switchyard-cni","agentSocket":"` + sock + `"}`, types.ErrInvalidNetworkConfig},
		{"unsupported version", env("ADD", ""), conf("9.9.9", ""), types.ErrIncompatibleCNIVersion},
		{"check on 0.3.1", env("CHECK", ""), conf("0.3.1", `,"prevResult":{}`), types.ErrIncompatibleCNIVersion},
		{"gc on 1.0.0", env("GC", ""), conf("1.0.0", ""), types.ErrIncompatibleCNIVersion},
		{"gc without list", env("GC", ""), conf("1.1.0", ""), types.ErrInvalidNetworkConfig},
		{"check without prevResult", env("CHECK", ""), conf("1.1.0", ""), types.ErrInvalidNetworkConfig},
		{"wrong type", env("ADD", ""), strings.Replace(conf("1.1.0", ""), "switchyard-cni", "bridge", 1), types.ErrInvalidNetworkConfig},
		{"bad CNI_ARGS", env("ADD", "", "CNI_ARGS", "junk"), conf("1.1.0", ""), types.ErrInvalidEnvironmentVariables},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		exit := relay.Run(func(k string) string { return tc.env[k] }, strings.NewReader(tc.config), &out, &bytes.Buffer{})
		var e types.Error
		if err := json.Unmarshal(out.Bytes(), &e); err != nil || exit != 1 || e.Code != tc.code {
			t.Errorf("%s: exit %d, output %s, want code %d", tc.name, exit, out.Bytes(), tc.code)
		}
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if n := len(fake.adds) + len(fake.dels) + len(fake.checks) + len(fake.gcs); n != 0 {
		t.Errorf("the backend was called %d times for refused invocations", n)
	}
}
