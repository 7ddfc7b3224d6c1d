package main

import (
	"os"

	"github.com/switchyard-net/switchyard/ingress"
	"github.com/switchyard-net/switchyard/ingress/proxy"
)

// newIngressComponent builds the ingress proxy on --ingress-http and
// --ingress-https, or returns nil when both are empty. Its access log goes
// to stderr as JSON lines, batched.
func newIngressComponent(env *nodeEnv) (component, error) {
	f := env.flags
	if f.ingressHTTP == "" && f.ingressHTTPS == "" {
		return nil, nil
	}
	return ingress.New(ingress.Config{
		NodeName: f.nodeName,
		Client:   env.client,
		Factory:  env.factory,
		Proxy: proxy.Config{HTTPAddr: f.ingressHTTP, HTTPSAddr: f.ingressHTTPS,
			BodyTimeout: f.ingressBodyTimeout, H2C: f.ingressH2C},
		Log:       env.log.With("component", "ingress"),
		AccessLog: os.Stderr,
		Registry:  env.registry,
	})
}
