package cnibackend

import (
	"context"
	"path/filepath"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
)

// fakeLinks serves podnet.Fake, which keeps everything in memory: removing
// the fake pod is the fake's way of removing its veth.
type fakeLinks struct{ f *podnet.Fake }

func (l fakeLinks) DeleteHostVeth(ctx context.Context, netnsName, hostVeth string) (func() error, error) {
	pods, err := l.f.WiredPods("")
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		if p.HostVeth == hostVeth && (netnsName == "" || p.NetNS == netnsName) {
			return func() error { return l.f.RemovePod(ctx, p.NetNS, hostVeth) }, nil
		}
	}
	return nil, nil
}

// BridgeExists: the Fake has no query for bridges; they always exist.
func (fakeLinks) BridgeExists(context.Context, string) error { return nil }

// UseNetNS: namespaces under NetNSDir keep their name; any other path
// gets a name derived from it. The Fake has no interfaces to check.
func (fakeLinks) UseNetNS(_ context.Context, path, _, _ string, fn func(string) error) error {
	if name, ok := underNetNSDir(path); ok {
		return fn(name)
	}
	if path == "" || !filepath.IsAbs(path) {
		return badNetNS(path, nil)
	}
	return fn(podnet.VethName(path))
}
