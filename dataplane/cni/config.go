package cni

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/utils"
	"github.com/containernetworking/cni/pkg/version"
)

const (
	// DefaultAgentSocket is where the plugin looks for the agent when the
	// config has no agentSocket: <default data dir>/cni.sock.
	DefaultAgentSocket = "/var/lib/switchyard/cni.sock"
	// PluginName is the name the plugin binary is installed under in the
	// runtime's CNI bin directory, and so the config's "type".
	PluginName = "switchyard-cni"
	// maxSocketPath is the longest unix socket path Linux accepts
	// (sun_path is 108 bytes with the terminating NUL).
	maxSocketPath = 107
	minMTU        = 68
	maxMTU        = 65535
)

// NetConf is a parsed switchyard network configuration (one plugin entry
// of a conflist, with what the runtime injected).
type NetConf struct {
	CNIVersion string
	Name       string
	// Type is "switchyard-cni", or "switchyard" when the main binary itself
	// is installed in the CNI bin directory.
	Type string
	// AgentSocket is the agent's unix socket; default DefaultAgentSocket.
	AgentSocket string
	// MTU of the pod interface; 0 (the default) lets the agent use its
	// uplink's MTU.
	MTU int
	// PrevResult is the runtime's prevResult converted to a 1.1.0 result;
	// nil when absent. CHECK requires it.
	PrevResult *current.Result
	// ValidAttachments is cni.dev/valid-attachments (GC only). nil means
	// the key was absent; an empty, non-nil slice means "none is valid".
	ValidAttachments []types.GCAttachment
}

// netConfJSON is the wire form of NetConf. Unknown keys (capabilities,
// runtimeConfig, ipam, …) are ignored.
type netConfJSON struct {
	CNIVersion       string               `json:"cniVersion"`
	Name             string               `json:"name"`
	Type             string               `json:"type"`
	AgentSocket      string               `json:"agentSocket"`
	MTU              int                  `json:"mtu"`
	PrevResult       map[string]any       `json:"prevResult"`
	ValidAttachments []types.GCAttachment `json:"cni.dev/valid-attachments"`
	LegacyAttach     []types.GCAttachment `json:"cni.dev/attachments"` // libcni before #1101
}

// ParseConfig parses and validates the network configuration a runtime
// passes on stdin, applying defaults. A non-nil error is a [*types.Error]:
// code 6 when the JSON or prevResult does not decode, 7 when a value is
// wrong.
func ParseConfig(data []byte) (*NetConf, error) {
	var raw netConfJSON
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "decode network config", err.Error())
	}
	conf := &NetConf{
		CNIVersion:       raw.CNIVersion,
		Name:             raw.Name,
		Type:             raw.Type,
		AgentSocket:      raw.AgentSocket,
		MTU:              raw.MTU,
		ValidAttachments: raw.ValidAttachments,
	}
	if conf.ValidAttachments == nil {
		conf.ValidAttachments = raw.LegacyAttach
	}
	if conf.AgentSocket == "" {
		conf.AgentSocket = DefaultAgentSocket
	}
	if err := conf.validate(); err != nil {
		return nil, err
	}
	if raw.PrevResult != nil {
		prev, err := parsePrevResult(conf.CNIVersion, raw.PrevResult)
		if err != nil {
			return nil, types.NewError(types.ErrDecodingFailure, "decode prevResult", err.Error())
		}
		conf.PrevResult = prev
	}
	return conf, nil
}

func (c *NetConf) validate() *types.Error {
	if err := utils.ValidateNetworkName(c.Name); err != nil {
		return err
	}
	if c.Type != PluginName && c.Type != "switchyard" {
		return invalidConfig("type %q: this plugin is %q", c.Type, PluginName)
	}
	if !filepath.IsAbs(c.AgentSocket) {
		return invalidConfig("agentSocket %q: not an absolute path", c.AgentSocket)
	}
	if len(c.AgentSocket) > maxSocketPath {
		return invalidConfig("agentSocket %q: longer than %d bytes", c.AgentSocket, maxSocketPath)
	}
	if c.MTU != 0 && (c.MTU < minMTU || c.MTU > maxMTU) {
		return invalidConfig("mtu %d: want 0 (the agent's default) or %d..%d", c.MTU, minMTU, maxMTU)
	}
	return nil
}

func invalidConfig(format string, args ...any) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig, "invalid network config", fmt.Sprintf(format, args...))
}

// parsePrevResult converts a prevResult of any supported version to 1.1.0.
func parsePrevResult(cniVersion string, raw map[string]any) (*current.Result, error) {
	pc := &types.PluginConf{CNIVersion: cniVersion, RawPrevResult: raw}
	if err := version.ParsePrevResult(pc); err != nil {
		return nil, err
	}
	return current.NewResultFromResult(pc.PrevResult)
}

// ParseArgs parses CNI_ARGS ("K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;…") into
// a map; "" gives nil. A pair without "=" is a [*types.Error] with code 4.
func ParseArgs(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	args := make(map[string]string, strings.Count(s, ";")+1)
	for pair := range strings.SplitSeq(s, ";") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return nil, types.NewError(types.ErrInvalidEnvironmentVariables, "invalid CNI_ARGS", fmt.Sprintf("pair %q is not KEY=VALUE", pair))
		}
		args[k] = v
	}
	return args, nil
}
