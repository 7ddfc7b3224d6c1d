package nodeserver

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// target is the pod (and container) a request path names.
type target struct {
	Namespace, Pod, Container string
}

// parseTarget splits /{kind}/{namespace}/{pod}[/{container}] (the
// kubelet's paths; wantContainer says whether the container segment is
// required). Empty segments and extra ones are errors.
func parseTarget(path, kind string, wantContainer bool) (target, error) {
	rest, ok := strings.CutPrefix(path, "/"+kind+"/")
	if !ok {
		return target{}, fmt.Errorf("path %q is not under /%s/", path, kind)
	}
	segs := strings.Split(rest, "/")
	want := 2
	if wantContainer {
		want = 3
	}
	if len(segs) != want {
		return target{}, fmt.Errorf("path %q: want /%s/{namespace}/{pod}%s", path, kind, map[bool]string{true: "/{container}"}[wantContainer])
	}
	for _, s := range segs {
		if s == "" {
			return target{}, fmt.Errorf("path %q has an empty segment", path)
		}
	}
	t := target{Namespace: segs[0], Pod: segs[1]}
	if wantContainer {
		t.Container = segs[2]
	}
	return t, nil
}

// logOptions are the query parameters of /containerLogs (those of
// corev1.PodLogOptions).
type logOptions struct {
	Follow     bool
	Previous   bool
	Timestamps bool
	TailLines  int64 // -1: all
	LimitBytes int64 // 0: no limit
	// Since, from sinceSeconds or sinceTime, drops older lines (zero:
	// none).
	Since time.Time
}

// parseLogOptions reads the query of a /containerLogs request.
func parseLogOptions(q url.Values, now time.Time) (logOptions, error) {
	o := logOptions{TailLines: -1}
	var err error
	flag := func(name string) bool {
		v := q.Get(name)
		if v == "" {
			return false
		}
		b, perr := strconv.ParseBool(v)
		if perr != nil && err == nil {
			err = fmt.Errorf("%s=%q: want true or false", name, v)
		}
		return b
	}
	num := func(name string, min int64) int64 {
		v := q.Get(name)
		if v == "" {
			return -1
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if (perr != nil || n < min) && err == nil {
			err = fmt.Errorf("%s=%q: want an integer of at least %d", name, v, min)
		}
		return n
	}
	o.Follow, o.Previous, o.Timestamps = flag("follow"), flag("previous"), flag("timestamps")
	o.TailLines = num("tailLines", 0)
	if o.LimitBytes = num("limitBytes", 1); o.LimitBytes < 0 {
		o.LimitBytes = 0
	}
	if secs := num("sinceSeconds", 1); secs > 0 {
		o.Since = now.Add(-time.Duration(secs) * time.Second)
	}
	if v := q.Get("sinceTime"); v != "" && err == nil {
		t, perr := time.Parse(time.RFC3339, v)
		switch {
		case perr != nil:
			err = fmt.Errorf("sinceTime=%q: want an RFC 3339 time", v)
		case !o.Since.IsZero():
			err = errors.New("at most one of sinceTime or sinceSeconds may be specified")
		default:
			o.Since = t
		}
	}
	if err != nil {
		return logOptions{}, err
	}
	if o.TailLines < 0 {
		o.TailLines = -1
	}
	return o, nil
}
