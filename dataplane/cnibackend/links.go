package cnibackend

import (
	"context"
	"fmt"

	"github.com/switchyard-net/switchyard/dataplane/podnet"
)

// fakeLinks serves podnet.Fake, which keeps everything in memory: removing
// the fake pod is the fake's way of removing its veth.
type fakeLinks struct{ f *podnet.Fake }

func (l fakeLinks) DeleteHostVeth(ctx context.Context, netnsName, hostVeth string) error {
	if netnsName == "" {
		return l.deleteByVeth(ctx, hostVeth)
	}
	return l.f.RemovePod(ctx, netnsName, hostVeth)
}

func (l fakeLinks) deleteByVeth(ctx context.Context, hostVeth string) error {
	pods, err := l.f.WiredPods("")
	if err != nil {
		return err
	}
	for _, p := range pods {
		if p.HostVeth == hostVeth {
			return l.f.RemovePod(ctx, p.NetNS, hostVeth)
		}
	}
	return nil
}

// BridgeExists: the Fake has no query for bridges; they always exist.
func (fakeLinks) BridgeExists(context.Context, string) error { return nil }

// NetNSExists: any valid name exists in the Fake.
func (fakeLinks) NetNSExists(name string) error {
	if name == "" {
		return fmt.Errorf("empty netns name")
	}
	return nil
}
