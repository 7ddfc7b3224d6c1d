package cni

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/utils"
	"github.com/containernetworking/cni/pkg/version"
)

// PathInvoke is where the slim plugin (package relay) sends a whole plugin
// invocation. See [Invocation].
const PathInvoke = "/v1/invoke"

// Invocation is one run of the plugin binary, relayed as it is by the slim
// plugin (cmd/switchyard-cni, package relay): the agent does all the work
// skel and the plugin would do in the plugin's process (checking the
// environment, parsing and versioning the config, converting the result),
// so the plugin binary needs neither the CNI libraries nor net/http and
// starts in about the time of an empty Go program.
//
// The answer of POST /v1/invoke is what the plugin prints: 200 with the
// command's stdout (the result of ADD, empty for the others), or a non-2xx
// status with the CNI error object, and the plugin then exits with 1.
type Invocation struct {
	// Env holds the CNI_* variables of the plugin's environment.
	Env map[string]string `json:"env"`
	// Stdin is the network configuration the runtime wrote to the plugin.
	Stdin []byte `json:"stdin"`
}

// invokeEnv are the variables the slim plugin relays.
var invokeEnv = []string{"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", "CNI_NETNS_OVERRIDE"}

// InvokeEnv lists the environment variables a relayed invocation carries.
func InvokeEnv() []string { return append([]string(nil), invokeEnv...) }

func (h *handler) invoke(w http.ResponseWriter, r *http.Request) {
	var inv Invocation
	if !decode(w, r, &inv) {
		return
	}
	var out bytes.Buffer
	p := &plugin{stdout: &out, ctx: r.Context(), backend: func(*NetConf) Backend { return localBackend{h.b} }}
	if e := dispatch(p, func(k string) string { return inv.Env[k] }, inv.Stdin); e != nil {
		writeError(w, e)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
	w.Write(out.Bytes())
}

// localBackend gives the errors of the agent's own Backend the codes the
// handler gives them on the wire, so a relayed invocation and one through
// [Client] fail alike.
type localBackend struct{ b Backend }

func (l localBackend) Add(ctx context.Context, req AddRequest) (*current.Result, error) {
	if err := validAttachmentErr(req.ContainerID, req.IfName); err != nil {
		return nil, err
	}
	res, err := l.b.Add(ctx, req)
	if err == nil {
		res, err = checkResult(res)
	}
	return res, cniErr(err, types.ErrInternal)
}

func (l localBackend) Del(ctx context.Context, req DelRequest) error {
	if err := validAttachmentErr(req.ContainerID, req.IfName); err != nil {
		return err
	}
	return cniErr(l.b.Del(ctx, req), types.ErrInternal)
}

func (l localBackend) Check(ctx context.Context, req CheckRequest) error {
	if err := validAttachmentErr(req.ContainerID, req.IfName); err != nil {
		return err
	}
	return cniErr(l.b.Check(ctx, req), types.ErrInternal)
}

func (l localBackend) GC(ctx context.Context, req GCRequest) error {
	return cniErr(l.b.GC(ctx, req), types.ErrInternal)
}

func (l localBackend) Status(ctx context.Context) error {
	return cniErr(l.b.Status(ctx), types.ErrPluginNotAvailable)
}

// cniErr is asCNIError that keeps nil nil.
func cniErr(err error, fallback uint) error {
	if err == nil {
		return nil
	}
	return asCNIError(err, fallback)
}

func validAttachmentErr(containerID, ifName string) error {
	if err := utils.ValidateContainerID(containerID); err != nil {
		return err
	}
	if err := utils.ValidateInterfaceName(ifName); err != nil {
		return err
	}
	return nil
}

// cmdEnv is one CNI_* variable and the commands that require it (and
// validate it with check); as skel.PluginMainFuncs reads them.
type cmdEnv struct {
	name     string
	required []string
	check    func(string) *types.Error
}

var cmdEnvs = []cmdEnv{
	{"CNI_COMMAND", []string{"ADD", "CHECK", "DEL", "GC", "STATUS"}, nil},
	{"CNI_CONTAINERID", []string{"ADD", "CHECK", "DEL"}, utils.ValidateContainerID},
	{"CNI_NETNS", []string{"ADD", "CHECK"}, nil},
	{"CNI_IFNAME", []string{"ADD", "CHECK", "DEL"}, utils.ValidateInterfaceName},
	{"CNI_ARGS", nil, nil},
	{"CNI_PATH", []string{"ADD", "CHECK", "DEL", "GC", "STATUS"}, nil},
	{"CNI_NETNS_OVERRIDE", nil, nil},
}

// dispatch runs one relayed plugin invocation the way
// skel.PluginMainFuncs runs one in the plugin's process: the same checks
// of the environment, the config's version against SupportedVersions
// (CHECK needs 0.4.0, GC and STATUS 1.1.0), then the command. The slim
// plugin answers VERSION itself and checks "CNI_NETNS is my own netns"
// itself (only it knows its namespace), so neither reaches here.
func dispatch(p *plugin, getenv func(string) string, stdin []byte) *types.Error {
	cmd := getenv("CNI_COMMAND")
	var missing []string
	for _, v := range cmdEnvs {
		val := getenv(v.name)
		req := slices.Contains(v.required, cmd)
		switch {
		case val == "" && (req || v.name == "CNI_COMMAND"):
			missing = append(missing, v.name)
		case val != "" && req && v.check != nil:
			if err := v.check(val); err != nil {
				return err
			}
		}
	}
	if len(missing) > 0 {
		return types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("required env variables [%s] missing", strings.Join(missing, ",")), "")
	}
	if err := validateConfigName(stdin); err != nil {
		return err
	}
	args := &skel.CmdArgs{ContainerID: getenv("CNI_CONTAINERID"), Netns: getenv("CNI_NETNS"), IfName: getenv("CNI_IFNAME"),
		Args: getenv("CNI_ARGS"), Path: getenv("CNI_PATH"), NetnsOverride: getenv("CNI_NETNS_OVERRIDE"), StdinData: stdin}
	confVersion, err := (&version.ConfigDecoder{}).Decode(stdin)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, err.Error(), "")
	}
	var call func(*skel.CmdArgs) error
	switch cmd {
	case "ADD":
		call = p.add
	case "DEL":
		call = p.del
	case "CHECK":
		call = p.check
		err = needVersion(confVersion, "0.4.0", cmd)
	case "GC":
		call = p.gc
		err = needVersion(confVersion, "1.1.0", cmd)
	case "STATUS":
		call = p.status
		err = needVersion(confVersion, "1.1.0", cmd)
	default:
		return types.NewError(types.ErrInvalidEnvironmentVariables, fmt.Sprintf("unknown CNI_COMMAND: %v", cmd), "")
	}
	if err != nil {
		return asCNIError(err, types.ErrDecodingFailure)
	}
	if verErr := (&version.Reconciler{}).Check(confVersion, SupportedVersions); verErr != nil {
		return types.NewError(types.ErrIncompatibleCNIVersion, "incompatible CNI versions", verErr.Details())
	}
	if err := call(args); err != nil {
		var e *types.Error
		if errors.As(err, &e) {
			return e
		}
		return types.NewError(types.ErrInternal, err.Error(), "")
	}
	return nil
}

// needVersion fails unless the config's version is at least min.
func needVersion(confVersion, min, cmd string) error {
	ok, err := version.GreaterThanOrEqualTo(confVersion, min)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, err.Error(), "")
	}
	if !ok {
		return types.NewError(types.ErrIncompatibleCNIVersion, "config version does not allow "+cmd, "")
	}
	return nil
}

// validateConfigName is skel's first look at the config: JSON with a
// valid network name.
func validateConfigName(stdin []byte) *types.Error {
	var conf struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(stdin, &conf); err != nil {
		return types.NewError(types.ErrDecodingFailure, fmt.Sprintf("error unmarshall network config: %v", err), "")
	}
	if conf.Name == "" {
		return types.NewError(types.ErrInvalidNetworkConfig, "missing network name", "")
	}
	return utils.ValidateNetworkName(conf.Name)
}
