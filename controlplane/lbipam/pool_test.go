package lbipam

import (
	"net/netip"
	"testing"
)

func TestParsePool(t *testing.T) {
	tests := []struct {
		name    string
		spec    []string
		want    string
		in, out []string
		wantErr bool
	}{
		{name: "range", spec: []string{"203.0.113.100-203.0.113.150"}, want: "203.0.113.100-203.0.113.150",
			in: []string{"203.0.113.100", "203.0.113.150", "203.0.113.120"}, out: []string{"203.0.113.99", "203.0.113.151", "2001:db8::1"}},
		{name: "cidr drops network and broadcast", spec: []string{"203.0.113.0/28"}, want: "203.0.113.1-203.0.113.14",
			in: []string{"203.0.113.1", "203.0.113.14"}, out: []string{"203.0.113.0", "203.0.113.15"}},
		{name: "/31 keeps both", spec: []string{"203.0.113.4/31"}, want: "203.0.113.4-203.0.113.5"},
		{name: "several, commas and flags", spec: []string{"203.0.113.7, 203.0.113.10-203.0.113.11", "2001:db8::/126"},
			want: "203.0.113.7,203.0.113.10-203.0.113.11,2001:db8::-2001:db8::3", in: []string{"2001:db8::3"}, out: []string{"203.0.113.8"}},
		{name: "empty", spec: nil, want: ""},
		{name: "reversed", spec: []string{"203.0.113.9-203.0.113.1"}, wantErr: true},
		{name: "mixed families", spec: []string{"203.0.113.1-2001:db8::1"}, wantErr: true},
		{name: "host bits", spec: []string{"203.0.113.5/24"}, wantErr: true},
		{name: "garbage", spec: []string{"example"}, wantErr: true},
		{name: "overlap", spec: []string{"203.0.113.0/24", "203.0.113.100-203.0.113.101"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePool(tt.spec)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParsePool(%q) = %s, want an error", tt.spec, p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != tt.want {
				t.Errorf("String() = %q, want %q", p, tt.want)
			}
			for _, s := range tt.in {
				if !p.Contains(netip.MustParseAddr(s)) {
					t.Errorf("Contains(%s) = false", s)
				}
			}
			for _, s := range tt.out {
				if p.Contains(netip.MustParseAddr(s)) {
					t.Errorf("Contains(%s) = true", s)
				}
			}
		})
	}
}

func FuzzParsePool(f *testing.F) {
	for _, s := range []string{"203.0.113.100-203.0.113.150", "203.0.113.0/24", "::1", "1.2.3.4-", "/0", "0.0.0.0/0,1.1.1.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePool([]string{s})
		if err != nil {
			return
		}
		// What String prints parses back to the same pool.
		q, err := ParsePool([]string{p.String()})
		if err != nil || q.String() != p.String() {
			t.Fatalf("round trip of %q: %q, %v", s, q, err)
		}
	})
}
