package nftlb

import (
	"net/netip"
	"slices"

	"github.com/switchyard-net/switchyard/dataplane/services"
)

// elemKey names one element of one of our sets.
type elemKey struct {
	set uint8
	key string
}

// elem is an element with its value: the target chain for verdict maps,
// the data bytes for maps, "" for sets.
type elem struct {
	k   elemKey
	val string
}

// portRec is what one ServicePort contributes to the kernel: elements,
// some of which (ClusterIPs, hairpin pairs) other ports may contribute
// too, and the shared picker chains its elements point at.
type portRec struct {
	sp     *services.ServicePort
	chains []*chainDef
	elems  []elem
	// aff maps the affinity key prefix (vip . proto . port) of each
	// address with session affinity to its endpoints (dataEndpoint
	// encoding), to drop stale affinity entries.
	aff map[string][]string
}

func v4Addrs(lists ...[]netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, l := range lists {
		for _, a := range l {
			if a.Is4() || a.Is4In6() {
				a = a.Unmap()
				if !slices.Contains(out, a) {
					out = append(out, a)
				}
			}
		}
	}
	return out
}

func v4Endpoints(eps []services.Endpoint) []services.Endpoint {
	out := make([]services.Endpoint, 0, len(eps))
	for _, ep := range eps {
		if ep.Addr.Is4() || ep.Addr.Is4In6() {
			ep.Addr = ep.Addr.Unmap()
			out = append(out, ep)
		}
	}
	return out
}

// buildPort renders one ServicePort. IPv6 addresses and endpoints are
// ignored (IPv4 only); an unknown protocol yields nothing.
func buildPort(sp *services.ServicePort, cluster netip.Prefix, pickers map[picker]*chainDef) *portRec {
	rec := &portRec{sp: sp}
	proto, ok := protoNum(string(sp.Protocol))
	if !ok || sp.Port == 0 {
		return rec
	}
	cEps, xEps := v4Endpoints(sp.ClusterEndpoints), v4Endpoints(sp.ExternalEndpoints)
	clusterIPs := v4Addrs(sp.ClusterIPs)
	externals := v4Addrs(sp.ExternalIPs, sp.LoadBalancerIPs)
	add := func(set uint8, key, val string) { rec.elems = append(rec.elems, elem{elemKey{set, key}, val}) }
	// serve programs one address (0.0.0.0 for the node port) over eps.
	if !cluster.IsValid() || !cluster.Addr().Is4() {
		cluster = netip.Prefix{}
	}
	serve := func(vip netip.Addr, port uint16, eps []services.Endpoint, nodePort, masq bool, cluster netip.Prefix) {
		p := picker{nodePort: nodePort, masq: masq, cluster: cluster.Masked(), n: len(eps), affinity: sp.AffinityTimeout}
		ch := pickers[p]
		if ch == nil {
			ch = p.chain()
			pickers[p] = ch
		}
		if !slices.Contains(rec.chains, ch) {
			rec.chains = append(rec.chains, ch)
		}
		if nodePort {
			add(setNodePorts, keyPP(proto, port), ch.name)
		} else {
			add(setIPs, keyAPP(vip, proto, port), ch.name)
		}
		for i, ep := range eps {
			add(setBackends, keyBackend(vip, proto, port, i), dataEndpoint(ep))
		}
		if sp.AffinityTimeout > 0 {
			if rec.aff == nil {
				rec.aff = map[string][]string{}
			}
			k := keyAPP(vip, proto, port)
			for _, ep := range eps {
				rec.aff[k] = append(rec.aff[k], dataEndpoint(ep))
			}
		}
	}
	for _, ip := range clusterIPs {
		if len(cEps) > 0 {
			serve(ip, sp.Port, cEps, false, false, cluster)
		} else {
			add(setNoEP, keyAPP(ip, proto, sp.Port), chReject)
		}
		add(setClusterIPs, string(ip.AsSlice()), "")
	}
	for _, ip := range externals {
		if len(xEps) > 0 {
			serve(ip, sp.Port, xEps, false, !sp.ExternalLocal, netip.Prefix{})
		} else {
			add(setNoEP, keyAPP(ip, proto, sp.Port), chReject)
		}
	}
	if sp.NodePort != 0 {
		if len(xEps) > 0 {
			serve(netip.IPv4Unspecified(), sp.NodePort, xEps, true, !sp.ExternalLocal, netip.Prefix{})
		} else {
			add(setNoEPNodePorts, keyPP(proto, sp.NodePort), chReject)
		}
	}
	// Hairpin: an endpoint reaching itself through the service is
	// masqueraded, or its reply would not come back through the NAT.
	// Only this node's endpoints can (at most a node's pods: few
	// elements, whatever the cluster's size).
	var seen []netip.Addr
	for _, ep := range append(slices.Clip(cEps), xEps...) {
		if ep.Local && !slices.Contains(seen, ep.Addr) {
			seen = append(seen, ep.Addr)
			a := ep.Addr.AsSlice()
			add(setHairpin, string(append(slices.Clip(a), a...)), "")
		}
	}
	return rec
}
