package podip

import (
	"net/netip"
	"testing"
	"time"
)

func TestEntryRoundTrip(t *testing.T) {
	for _, s := range []string{"10.244.1.2", "fd00::2", "::ffff:10.0.0.1"} {
		e := entry{ip: netip.MustParseAddr(s), time: time.Unix(1700000000, 123456789)}
		got, err := decodeEntry(e.encode())
		if err != nil || got.ip != e.ip || !got.time.Equal(e.time) {
			t.Errorf("%s: round trip gave %+v, %v", s, got, err)
		}
	}
	for _, b := range [][]byte{nil, {1}, make([]byte, 13), append([]byte{2}, make([]byte, 12)...), make([]byte, 30)} {
		if _, err := decodeEntry(b); err == nil {
			t.Errorf("decodeEntry(%x) succeeded", b)
		}
	}
}

// FuzzDecodeEntry checks that any stored bytes decode without panic, and
// that what decodes encodes back to the same bytes.
func FuzzDecodeEntry(f *testing.F) {
	f.Add(entry{ip: netip.MustParseAddr("10.244.1.2"), time: time.Unix(1, 2)}.encode())
	f.Add(entry{ip: netip.MustParseAddr("fd00::1"), time: time.Unix(-1, 0)}.encode())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		if !e.ip.IsValid() {
			t.Fatalf("decodeEntry(%x) gave an invalid address", b)
		}
		if got := e.encode(); string(got) != string(b) {
			t.Fatalf("decodeEntry(%x) re-encodes as %x", b, got)
		}
	})
}
