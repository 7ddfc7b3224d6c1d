package l2announce

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Responder answers ARP requests for the addresses it announces on one
// interface, from an AF_PACKET socket of the calling process's network
// namespace. It is safe for concurrent use.
type Responder struct {
	ifName string
	hw     net.HardwareAddr
	file   *os.File
	log    *slog.Logger

	mu    sync.Mutex
	addrs map[netip.Addr]bool // guarded by mu
}

// NewResponder opens the packet socket on interface ifName. Serve reads
// from it; Close closes it.
func NewResponder(ifName string, log *slog.Logger) (*Responder, error) {
	ifi, err := net.InterfaceByName(ifName)
	if err != nil {
		return nil, fmt.Errorf("arp responder: %w", err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("arp responder: %s has no Ethernet address", ifName)
	}
	proto := htons(etherTypeARP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, int(proto))
	if err != nil {
		return nil, fmt.Errorf("arp responder: packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("arp responder: bind to %s: %w", ifName, err)
	}
	// A non-blocking fd in an os.File uses the runtime poller, so Close
	// wakes a blocked Read.
	return &Responder{
		ifName: ifName, hw: ifi.HardwareAddr, file: os.NewFile(uintptr(fd), "arp:"+ifName),
		log: log.With("interface", ifName), addrs: map[netip.Addr]bool{},
	}, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Interface is the name of the interface the responder answers on.
func (r *Responder) Interface() string { return r.ifName }

// HardwareAddr is the interface's MAC address, which the answers carry.
func (r *Responder) HardwareAddr() net.HardwareAddr { return r.hw }

// Announce starts answering for addr and sends gratuitous ARP for it.
func (r *Responder) Announce(addr netip.Addr) error {
	r.mu.Lock()
	r.addrs[addr] = true
	r.mu.Unlock()
	return r.Gratuitous(addr)
}

// Withdraw stops answering for addr.
func (r *Responder) Withdraw(addr netip.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.addrs, addr)
}

func (r *Responder) announced(a netip.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addrs[a]
}

// Gratuitous broadcasts that addr is at this interface's address.
func (r *Responder) Gratuitous(addr netip.Addr) error {
	return r.send(Gratuitous(addr, r.hw))
}

func (r *Responder) send(p *Packet) error {
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	// A packet socket bound to an interface sends a written frame as it
	// is, on that interface.
	if _, err := r.file.Write(b); err != nil {
		return fmt.Errorf("send arp on %s: %w", r.ifName, err)
	}
	return nil
}

// Serve answers requests until Close; it returns nil then.
func (r *Responder) Serve() error {
	buf := make([]byte, 1600)
	for {
		n, err := r.file.Read(buf)
		if errors.Is(err, os.ErrClosed) {
			return nil
		}
		if err != nil {
			// A packet socket reports ENETDOWN once when its interface
			// goes down (a link flap) and ENXIO while it is gone: keep
			// listening, or a node that still holds its Leases would stop
			// answering for its addresses for good.
			if errors.Is(err, unix.ENETDOWN) || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.EINTR) {
				r.log.Warn("arp read", "interface", r.ifName, "err", err)
				time.Sleep(200 * time.Millisecond)
				continue
			}
			return fmt.Errorf("read arp on %s: %w", r.ifName, err)
		}
		p, err := Parse(buf[:n])
		if err != nil || !answers(p, r.hw, r.announced) {
			continue
		}
		if err := r.send(Reply(p, r.hw)); err != nil {
			r.log.Warn("arp reply", "to", p.SenderIP, "for", p.TargetIP, "err", err)
		}
	}
}

// Close closes the socket; Serve returns.
func (r *Responder) Close() error { return r.file.Close() }

// InterfaceOf is the name of the interface that holds addr: the node's
// uplink when addr is its InternalIP.
func InterfaceOf(addr netip.Addr) (string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("list interfaces: %w", err)
	}
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == addr.Unmap() {
					return ifi.Name, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no interface holds %s", addr)
}
