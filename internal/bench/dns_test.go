package bench

import (
	"strings"
	"testing"
	"time"

	miekg "github.com/miekg/dns"
)

func TestDNSPerfParsing(t *testing.T) {
	out := []byte(`[Status] Sending queries (to 127.0.0.2:15353)
> NOERROR svc-1.default.svc.cluster.local A 0.000120
> NXDOMAIN host-1.example.com.cluster.local A 0.000300
> NOERROR svc-2.default.svc.cluster.local A 0.001000

Statistics:

  Queries sent:         4
  Queries completed:    3 (75.00%)
  Queries lost:         1 (25.00%)

  Response codes:       NOERROR 2 (66.67%), NXDOMAIN 1 (33.33%)
  Queries per second:   39529.790528
`)
	if got := dnsperfField(out, "Queries per second:"); got != 39529.790528 {
		t.Errorf("QPS %v", got)
	}
	if got := dnsperfField(out, "Queries completed:"); got != 3 {
		t.Errorf("completed %v", got)
	}
	if got := dnsperfRcodes(out); !strings.HasPrefix(got, "NOERROR 2") {
		t.Errorf("rcodes %q", got)
	}
	lat := dnsperfLatencies(out)
	if len(lat) != 3 || lat[2] != time.Millisecond {
		t.Errorf("latencies %v", lat)
	}
}

// TestZoneFilesMatch: the zone CoreDNS loads has the records switchyard's
// index gets.
func TestZoneFilesMatch(t *testing.T) {
	zp := miekg.NewZoneParser(strings.NewReader(ZoneFile(300)), "", "")
	a := 0
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if x, isA := rr.(*miekg.A); isA && strings.HasPrefix(x.Hdr.Name, "svc-") {
			if !strings.HasSuffix(x.Hdr.Name, ".default.svc.cluster.local.") {
				t.Errorf("record %s outside default.svc", x.Hdr.Name)
			}
			a++
		}
	}
	if err := zp.Err(); err != nil || a != 300 {
		t.Errorf("zone file: %d service records, err %v", a, err)
	}
	if lines := strings.Count(HostsFile(300), "\n"); lines != 300 {
		t.Errorf("hosts file: %d lines", lines)
	}
	if ServiceIP(0) == ServiceIP(250) || ServiceIP(999).String() != "10.96.4.250" {
		t.Errorf("service addresses collide: %s %s %s", ServiceIP(0), ServiceIP(250), ServiceIP(999))
	}
}
