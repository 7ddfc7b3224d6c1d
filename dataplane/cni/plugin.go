package cni

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/pkg/ns"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// Timeouts of one plugin invocation. Runtimes have their own, usually
// longer; ours only keep a hung agent from hanging the plugin forever.
const (
	callTimeout   = 2 * time.Minute
	statusTimeout = 10 * time.Second
)

// SupportedVersions are the CNI spec versions the plugin speaks. CHECK needs
// 0.4.0 or later, GC and STATUS 1.1.0.
var SupportedVersions = version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

const about = "switchyard CNI plugin: forwards to the switchyard node agent on its unix socket"

// Invoked reports whether the process was started as the CNI plugin:
// argv0's base name is switchyard-cni, or CNI_COMMAND is set.
func Invoked(argv0 string, getenv func(string) string) bool {
	return filepath.Base(argv0) == PluginName || getenv("CNI_COMMAND") != ""
}

// PluginMain runs one CNI command from the environment and stdin, as the
// spec defines, and writes the result to stdout. On failure it prints the
// CNI error to stdout and exits with status 1; on success it returns.
func PluginMain() {
	p := &plugin{stdout: os.Stdout}
	skel.PluginMainFuncs(p.funcs(), SupportedVersions, about)
}

// plugin holds the command implementations; stdout is where results go.
// In the plugin's process (PluginMain) they call the agent through a
// [Client] on the config's socket; in the agent (a relayed [Invocation])
// backend serves them in process and ctx is the request's.
type plugin struct {
	stdout  io.Writer
	ctx     context.Context        // nil: context.Background()
	backend func(*NetConf) Backend // nil: a Client on conf.AgentSocket
}

func (p *plugin) to(conf *NetConf) Backend {
	if p.backend != nil {
		return p.backend(conf)
	}
	return NewClient(conf.AgentSocket)
}

func (p *plugin) context(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx := p.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, timeout)
}

func (p *plugin) funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: p.add, Del: p.del, Check: p.check, GC: p.gc, Status: p.status}
}

// parse reads the config and CNI_ARGS every command needs.
func parse(args *skel.CmdArgs) (*NetConf, map[string]string, error) {
	conf, err := ParseConfig(args.StdinData)
	if err != nil {
		return nil, nil, err
	}
	cniArgs, err := ParseArgs(args.Args)
	if err != nil {
		return nil, nil, err
	}
	return conf, cniArgs, nil
}

func (p *plugin) add(args *skel.CmdArgs) error {
	conf, cniArgs, err := parse(args)
	if err != nil {
		return err
	}
	if err := notOwnNetNS(args.Netns); err != nil {
		return err
	}
	ctx, cancel := p.context(callTimeout)
	defer cancel()
	res, err := p.to(conf).Add(ctx, AddRequest{
		ContainerID: args.ContainerID, IfName: args.IfName, NetNS: args.Netns,
		Args: cniArgs, Network: conf.Name, MTU: conf.MTU,
	})
	if err != nil {
		return err
	}
	out, err := res.GetAsVersion(conf.CNIVersion)
	if err != nil {
		return types.NewError(types.ErrIncompatibleCNIVersion, "convert result to "+conf.CNIVersion, err.Error())
	}
	return out.PrintTo(p.stdout)
}

// notOwnNetNS refuses a CNI_NETNS that is the namespace the plugin runs
// in (the runtime's, usually the host's): wiring it would turn the host's
// interfaces into a pod's. skel checks the same, but only after ADD ran.
func notOwnNetNS(path string) error {
	same, err := ns.CheckNetNS(path)
	if err != nil {
		return err
	}
	if same {
		return types.NewError(types.ErrInvalidNetNS, "CNI_NETNS is the plugin's own network namespace", path)
	}
	return nil
}

func (p *plugin) del(args *skel.CmdArgs) error {
	conf, cniArgs, err := parse(args)
	if err != nil {
		return err
	}
	ctx, cancel := p.context(callTimeout)
	defer cancel()
	return p.to(conf).Del(ctx, DelRequest{
		ContainerID: args.ContainerID, IfName: args.IfName, NetNS: args.Netns,
		Args: cniArgs, Network: conf.Name,
	})
}

func (p *plugin) check(args *skel.CmdArgs) error {
	conf, cniArgs, err := parse(args)
	if err != nil {
		return err
	}
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "CHECK needs prevResult", "the runtime passed no prevResult")
	}
	ctx, cancel := p.context(callTimeout)
	defer cancel()
	return p.to(conf).Check(ctx, CheckRequest{
		ContainerID: args.ContainerID, IfName: args.IfName, NetNS: args.Netns,
		Args: cniArgs, Network: conf.Name, PrevResult: conf.PrevResult,
	})
}

func (p *plugin) gc(args *skel.CmdArgs) error {
	conf, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	if conf.ValidAttachments == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "GC needs cni.dev/valid-attachments",
			"refusing to treat a missing list as 'nothing is valid'")
	}
	ctx, cancel := p.context(callTimeout)
	defer cancel()
	return p.to(conf).GC(ctx, GCRequest{Network: conf.Name, ValidAttachments: conf.ValidAttachments})
}

func (p *plugin) status(args *skel.CmdArgs) error {
	conf, err := ParseConfig(args.StdinData)
	if err != nil {
		return err
	}
	ctx, cancel := p.context(statusTimeout)
	defer cancel()
	return p.to(conf).Status(ctx)
}
