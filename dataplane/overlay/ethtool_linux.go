package overlay

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Legacy ethtool commands (linux/ethtool.h). ETHTOOL_STXCSUM with 0 clears
// every tx checksum feature of the device (NETIF_F_CSUM_MASK, which holds
// tx-checksum-ip-generic, the one a VXLAN device offers), like
// `ethtool -K dev tx off`.
const (
	ethtoolGTXCSUM = 0x16
	ethtoolSTXCSUM = 0x17
)

type ethtoolValue struct {
	cmd  uint32
	data uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte // the rest of the ifreq union
}

// setTxChecksum turns the device's tx checksum offload on or off, if it
// is not so already.
func (k *Netlink) setTxChecksum(dev string, on bool) error {
	want := uint32(0)
	if on {
		want = 1
	}
	return k.inNS(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("ethtool socket: %w", err)
		}
		defer unix.Close(fd)
		cur, err := ethtool(fd, dev, ethtoolGTXCSUM, 0)
		if err != nil {
			return fmt.Errorf("ethtool: tx checksum of %s: %w", dev, err)
		}
		if (cur != 0) == on {
			return nil
		}
		if _, err := ethtool(fd, dev, ethtoolSTXCSUM, want); err != nil {
			return fmt.Errorf("ethtool: set tx checksum of %s to %v: %w", dev, on, err)
		}
		return nil
	})
}

// TxChecksum reports whether the device has tx checksum offload on.
func (k *Netlink) TxChecksum(dev string) (bool, error) {
	var on bool
	err := k.inNS(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		v, err := ethtool(fd, dev, ethtoolGTXCSUM, 0)
		on = v != 0
		return err
	})
	return on, err
}

func ethtool(fd int, dev string, cmd, data uint32) (uint32, error) {
	v := ethtoolValue{cmd: cmd, data: data}
	var ifr ifreqData
	copy(ifr.name[:unix.IFNAMSIZ-1], dev)
	ifr.data = uintptr(unsafe.Pointer(&v))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&v)
	if errno != 0 {
		return 0, errno
	}
	return v.data, nil
}
