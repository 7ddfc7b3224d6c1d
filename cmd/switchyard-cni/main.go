// Command switchyard-cni is the slim build of switchyard's CNI plugin.
//
// A runtime starts the plugin once per ADD, CHECK and DEL. This binary is
// package relay: it imports almost nothing (no CNI libraries, no net, so
// it is linked statically) and hands each invocation to the node agent,
// which does the work in process (see dataplane/cni.Invocation). It
// starts in about the time of an empty Go program, against ~2.4 ms for a
// plugin built on the CNI libraries and ~15-18 ms for the full switchyard
// binary (which is a CNI plugin too, invoked as switchyard-cni or with
// CNI_COMMAND set, through dataplane/cni.PluginMain).
package main

import "github.com/switchyard-net/switchyard/dataplane/cni/relay"

func main() {
	relay.Main()
}
