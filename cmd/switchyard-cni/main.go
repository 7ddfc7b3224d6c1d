// Command switchyard-cni is the slim build of switchyard's CNI plugin.
//
// The switchyard binary is a CNI plugin too (invoked as switchyard-cni or
// with CNI_COMMAND set), but a runtime starts the plugin once per ADD and
// DEL, and starting the full 106 MB binary costs ~15-18 ms here against
// ~2.5 ms for this one (measured with `switchyard bench pods`). Both run
// the same code: dataplane/cni.PluginMain, which only talks to the node
// agent over its socket.
package main

import "github.com/switchyard-net/switchyard/dataplane/cni"

func main() {
	cni.PluginMain()
}
