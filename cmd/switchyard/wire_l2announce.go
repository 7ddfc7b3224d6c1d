package main

import (
	"context"
	"fmt"

	"github.com/switchyard-net/switchyard/dataplane/l2announce"
)

// newL2AnnounceComponent answers ARP for the LoadBalancer addresses whose
// Lease this node holds, on the interface of the node's InternalIP. A
// node without a known InternalIP (no --node-ip and no default route)
// announces nothing, and says so.
func newL2AnnounceComponent(env *nodeEnv) (component, error) {
	log := env.log.With("component", "l2announce")
	nodeIP, _, err := resolveNodeIP(env.flags)
	if err != nil {
		return nil, err
	}
	if !nodeIP.IsValid() {
		log.Info("no node IP (--node-ip or a default route): LoadBalancer addresses are not announced from this node")
		return nil, nil
	}
	ifName, err := l2announce.InterfaceOf(nodeIP)
	if err != nil {
		log.Info("LoadBalancer addresses are not announced from this node", "why", err.Error())
		return nil, nil
	}
	r, err := l2announce.NewResponder(ifName, log)
	if err != nil {
		return nil, err
	}
	a, err := l2announce.New(l2announce.Config{
		Client: env.client, Factory: env.factory, NodeName: env.flags.nodeName, Speaker: r, Logger: env.log,
	})
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("l2 announcer: %w", err)
	}
	log.Info("announcing LoadBalancer addresses by ARP", "interface", ifName, "mac", r.HardwareAddr().String())
	return &l2Component{env: env, responder: r, announcer: a}, nil
}

type l2Component struct {
	env       *nodeEnv
	responder *l2announce.Responder
	announcer *l2announce.Announcer
}

// Run answers ARP until ctx ends; the announcer releases its Leases then.
func (c *l2Component) Run(ctx context.Context) error {
	c.env.factory.Start(ctx.Done()) // idempotent: whichever component runs first starts it
	// If the responder stops for good, stop announcing too: holding the
	// Leases without answering ARP would keep other nodes from taking over.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		err := c.responder.Serve()
		cancel()
		errc <- err
	}()
	err := c.announcer.Run(ctx)
	c.responder.Close()
	if serr := <-errc; err == nil {
		err = serr
	}
	return err
}
