package podip

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// entryVersion is the first byte of every stored entry.
const entryVersion = 1

// entry is one allocation as stored under its owner: a version byte, the
// allocation time in Unix nanoseconds (8 bytes, big endian), then the
// address (4 or 16 bytes).
type entry struct {
	ip   netip.Addr
	time time.Time
}

func (e entry) encode() []byte {
	b := make([]byte, 9, 9+16)
	b[0] = entryVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(e.time.UnixNano()))
	return append(b, e.ip.AsSlice()...)
}

// decodeEntry parses a stored entry. The file may be damaged: any input
// yields an entry or an error, never a panic.
func decodeEntry(b []byte) (entry, error) {
	if len(b) != 9+4 && len(b) != 9+16 {
		return entry{}, fmt.Errorf("entry of %d bytes", len(b))
	}
	if b[0] != entryVersion {
		return entry{}, fmt.Errorf("entry version %d", b[0])
	}
	ip, _ := netip.AddrFromSlice(b[9:])
	t := time.Unix(0, int64(binary.BigEndian.Uint64(b[1:9])))
	return entry{ip: ip, time: t}, nil
}
