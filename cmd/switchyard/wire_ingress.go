package main

import (
	"fmt"
	"os"

	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/switchyard-net/switchyard/ingress"
	"github.com/switchyard-net/switchyard/ingress/proxy"
)

// newIngressComponent builds the ingress proxy on --ingress-http and
// --ingress-https, or returns nil when both are empty. Its access log goes
// to stderr as JSON lines, batched. It serves Ingresses and, when the API
// server serves the Gateway API, Gateways of the class switchyard.
func newIngressComponent(env *nodeEnv) (component, error) {
	f := env.flags
	if f.ingressHTTP == "" && f.ingressHTTPS == "" {
		return nil, nil
	}
	gwc, err := gwclient.NewForConfig(env.rest)
	if err != nil {
		return nil, fmt.Errorf("gateway API client: %w", err)
	}
	return ingress.New(ingress.Config{
		GatewayClient:   gwc,
		ClaimNginxClass: f.ingressClaimNginx,
		NodeName:        f.nodeName,
		Client:          env.client,
		Factory:         env.factory,
		Proxy: proxy.Config{HTTPAddr: f.ingressHTTP, HTTPSAddr: f.ingressHTTPS,
			BodyTimeout: f.ingressBodyTimeout, H2C: f.ingressH2C},
		Log:       env.log.With("component", "ingress"),
		AccessLog: os.Stderr,
		Registry:  env.registry,
	})
}
