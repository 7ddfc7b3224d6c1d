package netexec

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// dialer holds the shared state of one Dial. The counters are atomic;
// mu guards answers, errors and the maxima.
type dialer struct {
	cfg     DialConfig
	request []byte // the HTTP request, read-only
	start   time.Time
	net     net.Dialer

	report  DialReport
	mu      sync.Mutex
	answers map[string]int64
	errs    []string
	maxConn time.Duration
	maxReq  time.Duration

	heldRequests, heldReopened, conns, newRequests atomic.Int64
	connectFailures, requestFailures, wrongAnswers atomic.Int64
	slowConnects                                   atomic.Int64
}

func newDialer(c DialConfig) *dialer {
	return &dialer{
		cfg:     c,
		request: fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: switchyard-netexec-dial\r\n\r\n", c.Path, c.Host),
		start:   time.Now(),
		net:     net.Dialer{Timeout: c.Timeout, KeepAlive: -1},
		report:  DialReport{Target: c.Target, Hold: c.Hold},
		answers: map[string]int64{},
	}
}

// conn is one client connection with its reader.
type conn struct {
	net.Conn
	r *bufio.Reader
}

func closeAll(cs []*conn) {
	for _, c := range cs {
		if c != nil {
			c.Close()
		}
	}
}

// connect opens a connection, counting the outcome. It returns nil on
// failure, also when ctx ended (which is not counted).
func (d *dialer) connect(ctx context.Context) *conn {
	t0 := time.Now()
	nc, err := d.net.DialContext(ctx, "tcp", d.cfg.Target)
	took := time.Since(t0)
	if err != nil {
		if ctx.Err() == nil {
			d.connectFailures.Add(1)
			d.fail("connect", err)
		}
		return nil
	}
	d.conns.Add(1)
	if took >= slowConnect {
		d.slowConnects.Add(1)
	}
	d.mu.Lock()
	d.maxConn = max(d.maxConn, took)
	d.mu.Unlock()
	return &conn{Conn: nc, r: bufio.NewReaderSize(nc, 4096)}
}

// ask sends one request on c and checks the answer, counting a failure.
// It returns the good answer ("" when none) and whether c may be used
// again (not after a failure or a "Connection: close" answer).
func (d *dialer) ask(c *conn) (string, bool) {
	t0 := time.Now()
	c.SetDeadline(t0.Add(d.cfg.Timeout))
	body, status, reusable, err := roundTrip(c, d.request)
	took := time.Since(t0)
	d.mu.Lock()
	d.maxReq = max(d.maxReq, took)
	d.mu.Unlock()
	switch {
	case err != nil:
		d.requestFailures.Add(1)
		d.fail("request", err)
		return "", false
	case status != http.StatusOK || body == "":
		d.wrongAnswers.Add(1)
		d.fail("answer", fmt.Errorf("status %d, body %q", status, body))
		return "", reusable
	}
	d.mu.Lock()
	d.answers[body]++
	d.mu.Unlock()
	return body, reusable
}

// roundTrip writes req on c and reads one response.
func roundTrip(c *conn, req []byte) (body string, status int, reusable bool, err error) {
	if _, err := c.Write(req); err != nil {
		return "", 0, false, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return "", 0, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", 0, false, err
	}
	return string(b), resp.StatusCode, !resp.Close, nil
}

func (d *dialer) fail(what string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.errs) < maxDialErrors {
		d.errs = append(d.errs, fmt.Sprintf("%.3fs %s: %v", time.Since(d.start).Seconds(), what, err))
	}
}

// openHeld opens the held connections, holdOpeners at a time, each with
// its first request answered; a connection that fails is counted and
// tried again until ctx ends.
func (d *dialer) openHeld(ctx context.Context) ([]*conn, error) {
	held := make([]*conn, d.cfg.Hold)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(holdOpeners, d.cfg.Hold) {
		wg.Go(func() {
			for i := range next {
				held[i] = d.openOne(ctx)
			}
		})
	}
	for i := range held {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return held, fmt.Errorf("dial: opening %d held connections: %w", d.cfg.Hold, err)
	}
	return held, nil
}

// openOne opens a connection and asks once, retrying every 100 ms until
// it works or ctx ends (then nil).
func (d *dialer) openOne(ctx context.Context) *conn {
	for ctx.Err() == nil {
		if c := d.connect(ctx); c != nil {
			body, reusable := d.ask(c)
			if body != "" {
				d.heldRequests.Add(1)
			}
			if body != "" && reusable {
				return c
			}
			c.Close()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// keep asks on c every Interval, starting after offset, until load ends;
// a connection that fails is closed and opened again. It closes c.
func (d *dialer) keep(load context.Context, c *conn, offset time.Duration) {
	t := time.NewTimer(offset)
	defer t.Stop()
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		select {
		case <-load.Done():
			return
		case <-t.C:
		}
		t.Reset(d.cfg.Interval)
		if c == nil {
			if c = d.connect(load); c == nil {
				continue
			}
			d.heldReopened.Add(1)
		}
		body, reusable := d.ask(c)
		if body != "" {
			d.heldRequests.Add(1)
		}
		if !reusable {
			c.Close()
			c = nil
		}
	}
}

// openNew starts a one-shot connection every 1/Rate until load ends and
// waits for them all.
func (d *dialer) openNew(load context.Context) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / d.cfg.Rate))
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-load.Done():
			return
		case <-tick.C:
		}
		wg.Go(func() {
			// The connect is not cut short by the end of the load:
			// a connection started is a connection counted.
			c := d.connect(context.WithoutCancel(load))
			if c == nil {
				return
			}
			defer c.Close()
			if body, _ := d.ask(c); body != "" {
				d.newRequests.Add(1)
			}
		})
	}
}

// finish fills the report from the counters.
func (d *dialer) finish() *DialReport {
	r := &d.report
	r.HeldRequests = d.heldRequests.Load()
	r.HeldReopened = d.heldReopened.Load()
	r.Connections = d.conns.Load()
	r.NewRequests = d.newRequests.Load()
	r.ConnectFailures = d.connectFailures.Load()
	r.RequestFailures = d.requestFailures.Load()
	r.WrongAnswers = d.wrongAnswers.Load()
	r.SlowConnects = d.slowConnects.Load()
	d.mu.Lock()
	defer d.mu.Unlock()
	r.Answers = d.answers
	r.Errors = d.errs
	r.MaxConnectMillis = millis(d.maxConn)
	r.MaxRequestMillis = millis(d.maxReq)
	return r
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
