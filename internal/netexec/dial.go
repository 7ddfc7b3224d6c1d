package netexec

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Defaults of DialConfig fields left zero.
const (
	defaultDialInterval = time.Second
	defaultDialTimeout  = 5 * time.Second
	defaultDialPath     = "/hostname"
	// slowConnect marks a connect that took at least one SYN
	// retransmission (the kernel's initial RTO is 1 s).
	slowConnect = time.Second
	// maxDialErrors is how many failures a DialReport describes.
	maxDialErrors = 20
	// rampTimeouts is how many Timeouts opening the held connections
	// may take in all.
	rampTimeouts = 6
	// holdOpeners bounds how many held connections open at once.
	holdOpeners = 64
	// maxAnswer bounds the response body read.
	maxAnswer = 64 << 10
)

// DialConfig configures [Dial], the load client of `switchyard netexec
// --dial`, after agnhost's connect/client modes: it keeps Hold
// long-lived HTTP keep-alive connections to Target, asking Path on each
// of them every Interval, and meanwhile opens Rate new connections a
// second, one request each, for Duration.
type DialConfig struct {
	// Target is the "host:port" of a netexec HTTP server (or a Service in
	// front of several). Required.
	Target string
	// Hold is how many keep-alive connections to keep open (0: none).
	Hold int
	// Rate is how many new connections to open per second (0: none).
	Rate float64
	// Duration is how long the load runs once the held connections are
	// up. Required (> 0).
	Duration time.Duration
	// Interval is the period of requests on each held connection; the
	// connections are spread evenly over it. Default 1s.
	Interval time.Duration
	// Timeout bounds each connect and each request. Default 5s.
	Timeout time.Duration
	// Path is the URL path asked. Default "/hostname", whose answer (the
	// backend's name) the report counts per backend.
	Path string
	// Host is the Host header sent; default Target (set it to pick an
	// Ingress rule by host).
	Host string
	// OnHeld, if set, is called once when all held connections have
	// answered their first request, before the load's clock starts.
	OnHeld func(held int)
}

// DialReport is what [Dial] measured. Every failure is counted once, in
// ConnectFailures, RequestFailures or WrongAnswers.
type DialReport struct {
	Target string `json:"target"`
	// Hold is the number of held connections asked for, Held how many
	// were up (first answer received) when the load began.
	Hold int `json:"hold"`
	Held int `json:"held"`
	// HeldRequests counts good answers on held connections (the first
	// answer of each included); HeldReopened counts held connections that
	// failed during the load and were opened again.
	HeldRequests int64 `json:"heldRequests"`
	HeldReopened int64 `json:"heldReopened"`
	// Connections counts the connects that succeeded, held and one-shot;
	// NewRequests the good answers on one-shot connections.
	Connections int64 `json:"connections"`
	NewRequests int64 `json:"newRequests"`
	// ConnectFailures are connects that failed or timed out,
	// RequestFailures requests that got no complete answer, WrongAnswers
	// answers other than 200 with a non-empty body.
	ConnectFailures int64 `json:"connectFailures"`
	RequestFailures int64 `json:"requestFailures"`
	WrongAnswers    int64 `json:"wrongAnswers"`
	// SlowConnects took at least 1 s: a SYN was retransmitted, so one was
	// dropped somewhere.
	SlowConnects int64 `json:"slowConnects"`
	// MaxConnectMillis and MaxRequestMillis are the worst latencies seen.
	MaxConnectMillis float64 `json:"maxConnectMillis"`
	MaxRequestMillis float64 `json:"maxRequestMillis"`
	// Answers counts good answers by body (the backend's hostname).
	Answers map[string]int64 `json:"answers"`
	// Errors describes the first failures, with their time since Start.
	Errors []string `json:"errors,omitempty"`
	// RampSeconds is how long opening the held connections took,
	// LoadSeconds how long the load ran after that.
	RampSeconds float64 `json:"rampSeconds"`
	LoadSeconds float64 `json:"loadSeconds"`
	// NoFile is the open-files limit the client ran with.
	NoFile uint64 `json:"noFile"`
	// Error says why the load did not run (the held connections did not
	// come up); the counters then cover the attempt.
	Error string `json:"error,omitempty"`
}

// Failures is the total of failed connects, requests and answers.
func (r *DialReport) Failures() int64 {
	return r.ConnectFailures + r.RequestFailures + r.WrongAnswers
}

func (c *DialConfig) withDefaults() (DialConfig, error) {
	d := *c
	if d.Interval <= 0 {
		d.Interval = defaultDialInterval
	}
	if d.Timeout <= 0 {
		d.Timeout = defaultDialTimeout
	}
	if d.Path == "" {
		d.Path = defaultDialPath
	}
	if d.Host == "" {
		d.Host = d.Target
	}
	switch {
	case d.Target == "":
		return d, errors.New("dial: no target")
	case d.Hold < 0 || d.Rate < 0:
		return d, fmt.Errorf("dial: negative hold %d or rate %v", d.Hold, d.Rate)
	case d.Hold == 0 && d.Rate == 0:
		return d, errors.New("dial: neither --hold nor --rate set")
	case d.Duration <= 0:
		return d, fmt.Errorf("dial: duration %v: must be > 0", d.Duration)
	}
	if _, _, err := net.SplitHostPort(d.Target); err != nil {
		return d, fmt.Errorf("dial: target %q: %w", d.Target, err)
	}
	return d, nil
}

// Dial runs the load cfg describes and reports what it saw. Failures of
// the target are counted in the report, not returned. The error is for a
// bad config (nil report), or for held connections that did not all come
// up within 6 Timeouts or before ctx ended (the report, with Error set,
// then covers the attempt). When ctx ends during the load, Dial stops
// early and reports what it measured. Dial waits for every goroutine it
// started and closes every connection.
func Dial(ctx context.Context, cfg DialConfig) (*DialReport, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := newDialer(c)
	d.report.NoFile = raiseNoFile()
	start := time.Now()
	ramp, cancel := context.WithTimeout(ctx, rampTimeouts*c.Timeout)
	held, err := d.openHeld(ramp)
	cancel()
	d.report.RampSeconds = time.Since(start).Seconds()
	if err != nil {
		closeAll(held)
		r := d.finish()
		r.Error = err.Error()
		return r, err
	}
	d.report.Held = len(held)
	if c.OnHeld != nil {
		c.OnHeld(len(held))
	}
	loadStart := time.Now()
	load, stop := context.WithTimeout(ctx, c.Duration)
	defer stop()
	var wg sync.WaitGroup
	for i, hc := range held {
		offset := c.Interval * time.Duration(i) / time.Duration(len(held))
		wg.Go(func() { d.keep(load, hc, offset) })
	}
	if c.Rate > 0 {
		wg.Go(func() { d.openNew(load) })
	}
	wg.Wait()
	d.report.LoadSeconds = time.Since(loadStart).Seconds()
	return d.finish(), nil
}
