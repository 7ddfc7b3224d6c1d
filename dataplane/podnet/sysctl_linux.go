package podnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeSysctl writes /proc/sys/<key> (key with slashes). The files under
// /proc/sys/net belong to the network namespace of the thread that opens
// them, so the caller runs locked on a thread in the namespace it means.
func writeSysctl(key, value string) error {
	path := filepath.Join("/proc/sys", key)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteString(value)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", strings.ReplaceAll(key, "/", "."), value, err)
	}
	return nil
}

// brNFCallIPTables makes bridged IPv4 traffic traverse the IP hooks, so a
// pod → ClusterIP → pod reply that is bridged at L2 on sy0 is still
// un-NATed by conntrack. br_netfilter's sysctls are per namespace here, and
// appear in a namespace once it has a bridge.
const brNFCallIPTables = "net/bridge/bridge-nf-call-iptables"

// ensureNodeSysctls turns on forwarding and bridge netfilter in the
// calling thread's namespace.
func ensureNodeSysctls() error {
	if _, err := os.Stat(filepath.Join("/proc/sys", brNFCallIPTables)); err != nil {
		return fmt.Errorf("%w: net.bridge.bridge-nf-call-iptables: /proc/sys/%s: %v (load br_netfilter)",
			ErrBrNetfilter, brNFCallIPTables, err)
	}
	for _, key := range []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", brNFCallIPTables} {
		if err := writeSysctl(key, "1"); err != nil {
			return err
		}
	}
	return nil
}
