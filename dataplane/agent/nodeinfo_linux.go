package agent

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/switchyard-net/switchyard/dataplane/overlay"
	"github.com/switchyard-net/switchyard/dataplane/podnet"
)

// internalIP returns the first global IPv4 address of the node
// namespace's interfaces other than lo, the pod bridge and the VTEP.
func internalIP() (netip.Addr, bool) {
	ifs, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, ifc := range ifs {
		if ifc.Name == "lo" || ifc.Name == podnet.DefaultBridge || ifc.Name == overlay.DefaultDevice || ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err == nil && p.Addr().Is4() && p.Addr().IsGlobalUnicast() {
				return p.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// nodeAddresses lists InternalIP and Hostname. The InternalIP is nodeIP
// when valid (--node-ip), else the first global IPv4 address; without an
// uplink address (a sandbox node with only lo) it is the pods' gateway on
// the bridge, once the node is wired: the address pods reach the node at.
func nodeAddresses(name string, nodeIP, gateway netip.Addr) []corev1.NodeAddress {
	var out []corev1.NodeAddress
	ip, ok := nodeIP, nodeIP.IsValid()
	if !ok {
		ip, ok = internalIP()
	}
	if !ok {
		ip, ok = gateway, gateway.IsValid()
	}
	if ok {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip.String()})
	}
	return append(out, corev1.NodeAddress{Type: corev1.NodeHostName, Address: name})
}

// capacity reports CPUs, memory (MemTotal of /proc/meminfo) and pods.
func capacity() corev1.ResourceList {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:  *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourcePods: *resource.NewQuantity(MaxPods, resource.DecimalSI),
	}
	if kb, ok := memTotalKiB(); ok {
		rl[corev1.ResourceMemory] = *resource.NewQuantity(kb*1024, resource.BinarySI)
	}
	return rl
}

func memTotalKiB() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

func nodeInfo(version string) corev1.NodeSystemInfo {
	return corev1.NodeSystemInfo{
		MachineID:               readTrim("/etc/machine-id"),
		BootID:                  readTrim("/proc/sys/kernel/random/boot_id"),
		KernelVersion:           readTrim("/proc/sys/kernel/osrelease"),
		OSImage:                 osImage(),
		ContainerRuntimeVersion: "switchyard://" + version,
		KubeletVersion:          KubeletVersion,
		OperatingSystem:         runtime.GOOS,
		Architecture:            runtime.GOARCH,
	}
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

// osImage is PRETTY_NAME of /etc/os-release, or "Linux".
func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
			return strings.Trim(v, `"'`)
		}
	}
	return "Linux"
}
