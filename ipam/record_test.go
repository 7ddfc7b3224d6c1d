package ipam

import (
	"testing"
	"time"
	"unicode/utf8"
)

func TestRecordRoundTrip(t *testing.T) {
	r := newRecord("kube-system/kube-dns/0f9a")
	r.CIDR = "10.244.3.0/24"
	got, err := decodeRecord([]byte(r.encode()))
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(r.Time) || got.Owner != r.Owner || got.CIDR != r.CIDR {
		t.Errorf("round trip: got %+v, want %+v", got, r)
	}
	for _, bad := range []string{"", "null", "{}", `{"owner":""}`, `{"owner":5}`, "kube-system/x", `{"owner":"a","time":"yesterday"}`} {
		if _, err := decodeRecord([]byte(bad)); err == nil {
			t.Errorf("decodeRecord(%q) succeeded", bad)
		}
		if o := ownerOf([]byte(bad)); o != "" {
			t.Errorf("ownerOf(%q) = %q, want empty", bad, o)
		}
	}
}

// FuzzDecodeRecord checks that any stored value decodes without panic and
// that every owner survives a round trip.
func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"owner":"ns/name/uid","time":"2026-01-02T03:04:05.006Z"}`), "ns/name/uid")
	f.Add([]byte(`{"owner":"node1","cidr":"10.244.0.0/24","time":"2026-01-02T03:04:05Z"}`), "node1")
	f.Add([]byte(`{"owner":"\u00e9"}`), "\xff")
	f.Add([]byte(`[`), "")
	f.Fuzz(func(t *testing.T, b []byte, owner string) {
		if r, err := decodeRecord(b); err == nil && r.Owner == "" {
			t.Errorf("decodeRecord(%q) returned a record without owner", b)
		}
		if owner == "" || !utf8.ValidString(owner) {
			return // JSON replaces invalid UTF-8; owners come from API object names
		}
		r := record{Owner: owner, Time: time.Unix(1700000000, 0).UTC()}
		got, err := decodeRecord([]byte(r.encode()))
		if err != nil || got.Owner != owner {
			t.Errorf("owner %q: round trip gave %q, %v", owner, got.Owner, err)
		}
	})
}
