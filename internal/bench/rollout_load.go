package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// rollLoader is the steady load of `bench rollout` on one target: Hold
// kept-alive connections asking every Interval, and Rate new connections a
// second with one request each. Every request is recorded with its start
// time, so that windows (before, during each rollout) can be cut out
// afterwards. A request fails when it gets no complete 200 answer; the
// client does not retry (a user's failed request is counted as such), but
// a "Connection: close" answer is honoured by reconnecting.
type rollLoader struct {
	name, addr, host string
	dial             func(ctx context.Context, network, addr string) (net.Conn, error)
	hold             int
	interval         time.Duration
	rate             float64
	timeout          time.Duration
	request          []byte

	mu      sync.Mutex
	samples []rollSample
	errs    []string
}

type rollSample struct {
	at   time.Time
	took time.Duration
	ok   bool
}

const maxRollErrors = 10

func newRollLoader(name, addr, host string, dial func(context.Context, string, string) (net.Conn, error), o RolloutOptions) *rollLoader {
	l := &rollLoader{name: name, addr: addr, host: host, dial: dial, hold: o.Hold, interval: o.Interval, rate: o.Rate, timeout: 5 * time.Second}
	l.request = fmt.Appendf(nil, "GET /hostname HTTP/1.1\r\nHost: %s\r\nUser-Agent: switchyard-bench-rollout\r\n\r\n", host)
	return l
}

// run loads until ctx ends and waits for every request it started.
func (l *rollLoader) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range l.hold {
		offset := l.interval * time.Duration(i) / time.Duration(max(l.hold, 1))
		wg.Go(func() { l.keep(ctx, offset) })
	}
	if l.rate > 0 {
		wg.Go(func() { l.fresh(ctx, &wg) })
	}
	wg.Wait()
}

func (l *rollLoader) record(at time.Time, ok bool, err error) {
	took := time.Since(at)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.samples = append(l.samples, rollSample{at: at, took: took, ok: ok})
	if !ok && len(l.errs) < maxRollErrors {
		l.errs = append(l.errs, fmt.Sprintf("%s: %v", at.Format("15:04:05.000"), err))
	}
}

type rollConn struct {
	net.Conn
	r *bufio.Reader
}

// ask sends the request on c; it reports whether c may be used again.
func (l *rollLoader) ask(c *rollConn) (reusable bool, err error) {
	c.SetDeadline(time.Now().Add(l.timeout))
	if _, err := c.Write(l.request); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(c.r, nil)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return false, err
	}
	if resp.StatusCode != http.StatusOK {
		return !resp.Close, fmt.Errorf("status %d", resp.StatusCode)
	}
	return !resp.Close, nil
}

func (l *rollLoader) connect(ctx context.Context) (*rollConn, error) {
	dctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	nc, err := l.dial(dctx, "tcp", l.addr)
	if err != nil {
		return nil, err
	}
	return &rollConn{Conn: nc, r: bufio.NewReaderSize(nc, 4096)}, nil
}

// keep is one kept-alive connection, reopened after a failure or a
// "Connection: close" answer.
func (l *rollLoader) keep(ctx context.Context, offset time.Duration) {
	t := time.NewTimer(offset)
	defer t.Stop()
	var c *rollConn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(l.interval)
		start := time.Now()
		if c == nil {
			var err error
			if c, err = l.connect(context.WithoutCancel(ctx)); err != nil {
				l.record(start, false, fmt.Errorf("connect: %w", err))
				continue
			}
		}
		reusable, err := l.ask(c)
		l.record(start, err == nil, err)
		if !reusable {
			c.Close()
			c = nil
		}
	}
}

// fresh opens Rate new connections a second, one request each.
func (l *rollLoader) fresh(ctx context.Context, wg *sync.WaitGroup) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / l.rate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Go(func() {
			start := time.Now()
			c, err := l.connect(context.WithoutCancel(ctx))
			if err != nil {
				l.record(start, false, fmt.Errorf("connect: %w", err))
				return
			}
			defer c.Close()
			_, err = l.ask(c)
			l.record(start, err == nil, err)
		})
	}
}

// window summarises the requests started in [from, to).
func (l *rollLoader) window(from, to time.Time) RolloutWindow {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d []time.Duration
	w := RolloutWindow{}
	for _, s := range l.samples {
		if s.at.Before(from) || !s.at.Before(to) {
			continue
		}
		w.Requests++
		if !s.ok {
			w.Failed++
			continue
		}
		d = append(d, s.took)
	}
	st := Summarize(d)
	w.P50, w.P99 = st.Median, st.P99
	return w
}
