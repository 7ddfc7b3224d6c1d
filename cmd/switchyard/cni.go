package main

import (
	"os"

	"github.com/switchyard-net/switchyard/dataplane/cni"
)

// cniMain runs the CNI plugin when the binary was invoked as one (as
// switchyard-cni, or with CNI_COMMAND set) and reports whether it did; main
// must then return at once. On a CNI error the plugin has already printed
// it and exited with status 1.
func cniMain() (handled bool) {
	if !cni.Invoked(os.Args[0], os.Getenv) {
		return false
	}
	cni.PluginMain()
	return true
}
