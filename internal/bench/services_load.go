package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator of `bench services`: a child process in the client
// pod, in the benchmark's cgroup. It speaks just enough HTTP/1.1 to drive
// netexec (one fixed request, responses framed by Content-Length), so that
// the client costs little CPU beside the dataplane it measures, like wrk.

// Load modes.
const (
	ModeStream = "stream" // bulk download: GET /bytes of StreamSize on each connection, repeated
	ModeRR     = "rr"     // keep-alive requests, one at a time per connection
	ModeConn   = "conn"   // connect, one request, close (the client closes first)
)

// LoadSpec is one load-generator run.
type LoadSpec struct {
	Mode     string        `json:"mode"`
	Targets  []string      `json:"targets"` // "ip:port", used round-robin
	Conns    int           `json:"conns"`   // parallel connections (workers)
	Duration time.Duration `json:"duration"`
	Warmup   time.Duration `json:"warmup"`
	// Cgroup is read (cpu.stat usage_usec) at the start and end of the
	// measured window; "" skips it.
	Cgroup     string `json:"cgroup,omitempty"`
	StreamSize int    `json:"streamSize,omitempty"`
}

// LoadResult is what the load generator measured in its window.
type LoadResult struct {
	Mode       string  `json:"mode"`
	Ops        int64   `json:"ops"`   // requests (rr, stream) or connections (conn)
	Bytes      int64   `json:"bytes"` // response bytes received
	Seconds    float64 `json:"seconds"`
	CPUUsec    int64   `json:"cpuUsec"` // cgroup CPU time used in the window
	P50Us      float64 `json:"p50Us"`
	P99Us      float64 `json:"p99Us"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"firstError,omitempty"`
}

type loadWorker struct {
	ops, bytes, errs int64
	lat              []time.Duration
	firstErr         error
	_                [64]byte // keep workers' counters on separate cache lines
}

// RunLoad runs spec and returns the figures of its measured window.
func RunLoad(ctx context.Context, spec LoadSpec) (LoadResult, error) {
	if len(spec.Targets) == 0 || spec.Conns <= 0 || spec.Duration <= 0 {
		return LoadResult{}, fmt.Errorf("load: need targets, conns > 0 and a duration (got %+v)", spec)
	}
	if spec.StreamSize <= 0 {
		spec.StreamSize = 64 << 20
	}
	reqs := newRequests(spec)
	var measuring, stop atomic.Bool
	end := time.Now().Add(spec.Warmup + spec.Duration)
	ws := make([]loadWorker, spec.Conns)
	var wg sync.WaitGroup
	for i := range ws {
		wg.Go(func() { runWorker(ctx, spec, reqs, i, &ws[i], &measuring, &stop, end) })
	}
	sleep(ctx, spec.Warmup)
	cpu0, err := cgroupUsage(spec.Cgroup)
	if err != nil {
		stop.Store(true)
		wg.Wait()
		return LoadResult{}, err
	}
	t0 := time.Now()
	measuring.Store(true)
	sleep(ctx, spec.Duration)
	measuring.Store(false)
	secs := time.Since(t0).Seconds()
	cpu1, err := cgroupUsage(spec.Cgroup)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		return LoadResult{}, err
	}
	return collect(spec.Mode, ws, secs, cpu1-cpu0, ctx.Err())
}

func collect(mode string, ws []loadWorker, secs float64, cpu int64, ctxErr error) (LoadResult, error) {
	r := LoadResult{Mode: mode, Seconds: secs, CPUUsec: cpu}
	var lat []time.Duration
	for i := range ws {
		w := &ws[i]
		r.Ops += w.ops
		r.Bytes += w.bytes
		r.Errors += w.errs
		lat = append(lat, w.lat...)
		if w.firstErr != nil && r.FirstError == "" {
			r.FirstError = w.firstErr.Error()
		}
	}
	if ctxErr != nil {
		return r, ctxErr
	}
	if r.Ops == 0 {
		return r, fmt.Errorf("load %s: no operation completed (%d errors; first: %s)", mode, r.Errors, r.FirstError)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		us := func(p float64) float64 {
			i := max(0, min(len(lat)-1, int(p*float64(len(lat))+0.999999)-1))
			return float64(lat[i]) / float64(time.Microsecond)
		}
		r.P50Us, r.P99Us = us(0.50), us(0.99)
	}
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// requests are the fixed request bytes of each mode. New-connection mode
// sends a keep-alive request too and closes first once the response is
// in: the TIME_WAIT socket stays with the client, whose port allocator
// reuses it for the same destination (tcp_tw_reuse in the client pod). A
// server closing first would keep TIME_WAIT sockets that a reused client
// port, NATed from another ClusterIP, runs into (a SYN answered by an ACK,
// then a 1 s retransmit), which would punish every NAT path for the
// benchmark's own port reuse.
type requests struct{ keep []byte }

func newRequests(spec LoadSpec) requests {
	path := "/"
	if spec.Mode == ModeStream {
		path = "/bytes?size=" + strconv.Itoa(spec.StreamSize)
	}
	return requests{keep: []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: switchyard-bench\r\n\r\n")}
}

func runWorker(ctx context.Context, spec LoadSpec, reqs requests, id int, w *loadWorker,
	measuring, stop *atomic.Bool, end time.Time) {
	bufSize := 4 << 10
	if spec.Mode == ModeStream {
		bufSize = 256 << 10
	}
	buf := make([]byte, bufSize)
	d := net.Dialer{Timeout: 5 * time.Second}
	var c net.Conn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	fail := func(err error) {
		if measuring.Load() {
			w.errs++
			if w.firstErr == nil {
				w.firstErr = err
			}
		}
		if c != nil {
			c.Close()
			c = nil
		}
		time.Sleep(time.Millisecond)
	}
	for k := id; !stop.Load() && ctx.Err() == nil; k++ {
		target := spec.Targets[k%len(spec.Targets)]
		if spec.Mode != ModeConn {
			target = spec.Targets[id%len(spec.Targets)]
		}
		t0 := time.Now()
		if c == nil {
			var err error
			if c, err = d.DialContext(ctx, "tcp", target); err != nil {
				fail(fmt.Errorf("dial %s: %w", target, err))
				continue
			}
			c.SetDeadline(end.Add(10 * time.Second))
			if spec.Mode != ModeConn {
				t0 = time.Now() // connection setup is not part of a keep-alive request
			}
		}
		n, err := roundTrip(c, reqs.keep, buf)
		if err != nil {
			fail(fmt.Errorf("%s: %w", target, err))
			continue
		}
		if spec.Mode == ModeConn {
			c.Close()
			c = nil
		}
		if measuring.Load() {
			w.ops++
			w.bytes += n
			if spec.Mode != ModeStream {
				w.lat = append(w.lat, time.Since(t0))
			}
		}
	}
}

var errBadResponse = errors.New("bad HTTP response")

// roundTrip writes req and reads one response framed by Content-Length,
// returning the body size.
func roundTrip(c net.Conn, req, buf []byte) (int64, error) {
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	n := 0
	hdrEnd := -1
	for hdrEnd < 0 {
		if n == len(buf) {
			return 0, fmt.Errorf("%w: header larger than %d bytes", errBadResponse, len(buf))
		}
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return 0, err
		}
		hdrEnd = bytes.Index(buf[:n], []byte("\r\n\r\n"))
	}
	hdr := buf[:hdrEnd]
	if !bytes.HasPrefix(hdr, []byte("HTTP/1.1 200 ")) {
		line, _, _ := bytes.Cut(hdr, []byte("\r\n"))
		return 0, fmt.Errorf("%w: %q", errBadResponse, line)
	}
	cl, err := contentLength(hdr)
	if err != nil {
		return 0, err
	}
	left := cl - int64(n-hdrEnd-4)
	for left > 0 {
		m, err := c.Read(buf[:min(int64(len(buf)), left)])
		left -= int64(m)
		if err != nil {
			return 0, err
		}
	}
	if left < 0 {
		return 0, fmt.Errorf("%w: %d bytes beyond Content-Length", errBadResponse, -left)
	}
	return cl, nil
}

// contentLength finds the Content-Length header in a response head.
func contentLength(hdr []byte) (int64, error) {
	for line := range bytes.SplitSeq(hdr, []byte("\r\n")) {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(name), "Content-Length") {
			v, err := strconv.ParseInt(strings.TrimSpace(string(val)), 10, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("%w: Content-Length %q", errBadResponse, val)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: no Content-Length", errBadResponse)
}

// cgroupUsage reads usage_usec from the cgroup's cpu.stat (0 when dir is
// "").
func cgroupUsage(dir string) (int64, error) {
	if dir == "" {
		return 0, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return 0, fmt.Errorf("read cgroup cpu: %w", err)
	}
	return parseUsage(b)
}

// parseUsage returns usage_usec from a cgroup v2 cpu.stat.
func parseUsage(b []byte) (int64, error) {
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cpu.stat usage_usec %q: %w", v, err)
			}
			return n, nil
		}
	}
	return 0, errors.New("cpu.stat: no usage_usec")
}
