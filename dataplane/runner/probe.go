package runner

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type probeKind string

const (
	readiness probeKind = "readiness"
	liveness  probeKind = "liveness"
	startup   probeKind = "startup"
)

// probeUserAgent is what the kubelet sends; some servers look for it.
const probeUserAgent = "kube-probe/1.37"

// probeTiming is a probe's schedule with Kubernetes' defaults filled in.
type probeTiming struct {
	delay, period, timeout time.Duration
	success, failure       int
}

func timingOf(pr *corev1.Probe) probeTiming {
	atLeast := func(v, def int32) int32 {
		if v < 1 {
			return def
		}
		return v
	}
	return probeTiming{
		delay:   time.Duration(pr.InitialDelaySeconds) * time.Second,
		period:  time.Duration(atLeast(pr.PeriodSeconds, 10)) * time.Second,
		timeout: time.Duration(atLeast(pr.TimeoutSeconds, 1)) * time.Second,
		success: int(atLeast(pr.SuccessThreshold, 1)),
		failure: int(atLeast(pr.FailureThreshold, 3)),
	}
}

// startProbesLocked starts the probes of a new running instance: the
// startup probe alone until it succeeds, then readiness and liveness.
func (c *container) startProbesLocked(inst *instance) {
	if c.spec.StartupProbe != nil && !c.started {
		c.spawnProbeLocked(inst, startup, c.spec.StartupProbe)
		return
	}
	if c.spec.ReadinessProbe != nil {
		c.spawnProbeLocked(inst, readiness, c.spec.ReadinessProbe)
	}
	if c.spec.LivenessProbe != nil {
		c.spawnProbeLocked(inst, liveness, c.spec.LivenessProbe)
	}
}

func (c *container) spawnProbeLocked(inst *instance, kind probeKind, pr *corev1.Probe) {
	c.p.r.spawn(c.p, func() { c.probeLoop(inst, kind, pr) })
}

// probeLoop probes inst every period, after the initial delay counted from
// the container's start, until the instance ends or the probe has done its
// job (startup success, liveness kill).
func (c *container) probeLoop(inst *instance, kind probeKind, pr *corev1.Probe) {
	t := timingOf(pr)
	if !sleepCtx(inst.ctx, time.Until(inst.began.Add(t.delay))) {
		return
	}
	tick := time.NewTicker(t.period)
	defer tick.Stop()
	var successes, failures int
	for {
		err := c.probe(inst.ctx, pr, t.timeout)
		if inst.ctx.Err() != nil {
			return
		}
		if err == nil {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
			c.p.r.log.Debug("probe failed", "pod", c.p.name(), "container", c.spec.Name, "probe", kind, "err", err)
			c.event(corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %v", probeTitle(kind), err)
		}
		if c.probed(inst, kind, pr, err, successes >= t.success, failures >= t.failure) {
			return
		}
		select {
		case <-inst.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probed acts on one probe result and reports whether the loop is done.
func (c *container) probed(inst *instance, kind probeKind, pr *corev1.Probe, err error, succeeded, failed bool) bool {
	p := c.p
	switch {
	case kind == readiness && (succeeded || failed):
		p.mu.Lock()
		if c.inst == inst && c.ready != succeeded {
			c.ready = succeeded
			p.r.log.Info("readiness changed", "pod", p.name(), "container", c.spec.Name, "ready", succeeded)
			p.changedLocked()
		}
		p.mu.Unlock()
	case kind == startup && err == nil:
		p.mu.Lock()
		defer p.mu.Unlock()
		if c.inst == inst {
			c.started = true
			c.startProbesLocked(inst)
			p.changedLocked()
		}
		return true
	case kind != readiness && failed:
		p.mu.Lock()
		grace := p.graceLocked(pr.TerminationGracePeriodSeconds)
		p.mu.Unlock()
		c.event(corev1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", c.spec.Name, kind)
		c.kill(inst, grace, fmt.Sprintf("%s probe failed: %v", kind, err))
		return true
	}
	return false
}

// probe runs one check: nil is success.
func (c *container) probe(ctx context.Context, pr *corev1.Probe, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch h := pr.ProbeHandler; {
	case h.Exec != nil:
		return c.execProbe(ctx, h.Exec.Command)
	case h.HTTPGet != nil:
		return c.httpProbe(ctx, h.HTTPGet)
	case h.TCPSocket != nil:
		addr, err := c.probeAddr(h.TCPSocket.Host, h.TCPSocket.Port)
		if err != nil {
			return err
		}
		conn, err := c.p.r.cfg.Dial(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
	return errors.New("unsupported probe handler (grpc probes are not implemented)")
}

func (c *container) execProbe(ctx context.Context, cmd []string) error {
	var out limitedBuffer
	code, err := c.p.r.ExecContainer(ctx, c.p.uid, c.spec.Name, cmd, nil, &out, &out)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("exit code %d: %s", code, strings.TrimSpace(out.String()))
	}
	return nil
}

func (c *container) httpProbe(ctx context.Context, h *corev1.HTTPGetAction) error {
	addr, err := c.probeAddr(h.Host, h.Port)
	if err != nil {
		return err
	}
	path := h.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u, err := url.Parse(path)
	if err != nil {
		return fmt.Errorf("probe path: %w", err)
	}
	u.Scheme, u.Host = "http", addr
	if h.Scheme == corev1.URISchemeHTTPS {
		u.Scheme = "https"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", probeUserAgent)
	req.Header.Set("Accept", "*/*")
	for _, hh := range h.HTTPHeaders {
		if strings.EqualFold(hh.Name, "Host") {
			req.Host = hh.Value
		} else {
			req.Header.Add(hh.Name, hh.Value)
		}
	}
	resp, err := c.p.r.probeClient().Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return nil
}

// probeAddr is host:port for a probe: host defaults to the pod's IP, and a
// named port is looked up in the container's ports.
func (c *container) probeAddr(host string, port intstr.IntOrString) (string, error) {
	if host == "" {
		c.p.mu.Lock()
		host = podIP(c.p.spec)
		c.p.mu.Unlock()
	}
	if host == "" {
		return "", errors.New("pod has no IP yet")
	}
	n := port.IntValue()
	if port.Type == intstr.String {
		n = 0
		for _, cp := range c.spec.Ports {
			if cp.Name == port.StrVal {
				n = int(cp.ContainerPort)
			}
		}
	}
	if n <= 0 || n > 65535 {
		return "", fmt.Errorf("invalid probe port %s", port.String())
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// probeClient is the HTTP client of httpGet probes: no keep-alive (each
// probe is a new connection, as the kubelet does), no proxy, no
// certificate check, redirects not followed (a 3xx is a success).
func (r *Runner) probeClient() *http.Client {
	r.probeOnce.Do(func() {
		r.probeHTTP = &http.Client{
			Transport: &http.Transport{
				DialContext:       r.cfg.Dial,
				DisableKeepAlives: true,
				TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	})
	return r.probeHTTP
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// limitedBuffer keeps the first 4 KiB written to it (exec probe output).
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
