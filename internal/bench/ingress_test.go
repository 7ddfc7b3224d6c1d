package bench

import (
	"testing"
)

const wrkSample = `Running 10s test @ http://127.0.0.1:8000/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    3.01ms  60.12ms   95.12%
    Req/Sec    12.34k     1.01k   14.00k    70.00%
  Latency Distribution
     50%  812.00us
     75%    1.50ms
     90%    3.00ms
     99%    1.02s
  245678 requests in 10.00s, 40.12MB read
  Socket errors: connect 1, read 7, write 2, timeout 3
  Non-2xx or 3xx responses: 4
Requests/sec:  24567.80
Transfer/sec:      4.01MB
`

func TestParseWrk(t *testing.T) {
	m, err := parseWrk(wrkSample)
	if err != nil {
		t.Fatal(err)
	}
	want := IngressMeasure{RPS: 24567.80, P50: 0.812, P99: 1020, Errors: 4 + 1 + 2 + 3}
	if m != want {
		t.Errorf("parseWrk = %+v, want %+v", m, want)
	}
	if _, err := parseWrk("garbage"); err == nil {
		t.Error("no error for output without Requests/sec")
	}
}

func TestMedianMeasure(t *testing.T) {
	got := medianMeasure([]IngressMeasure{{RPS: 3, P99: 9, Errors: 1}, {RPS: 1, P99: 7}, {RPS: 2, P99: 8}})
	if got.RPS != 2 || got.P99 != 8 || got.Errors != 1 {
		t.Errorf("median = %+v", got)
	}
}

// FuzzParseWrk: wrk output of any shape never panics the parser.
func FuzzParseWrk(f *testing.F) {
	f.Add(wrkSample)
	f.Add("Requests/sec: x\n50% 1zz\n")
	f.Fuzz(func(t *testing.T, s string) {
		parseWrk(s)
	})
}
