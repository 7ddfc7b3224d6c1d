package nodeserver

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-net/switchyard/dataplane/crilog"
)

// followInterval is how often a followed log is read for new data.
const followInterval = 200 * time.Millisecond

// serveLogs answers /containerLogs as the kubelet does: the container's
// CRI-format log (with its rotated predecessors) read with the request's
// options: timestamps, sinceSeconds or sinceTime, tailLines, limitBytes,
// follow, previous.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	t, err := parseTarget(r.URL.Path, "containerLogs", true)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	o, err := parseLogOptions(r.URL.Query(), time.Now())
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	path, running, err := s.cfg.Backend.ContainerLog(t.Namespace, t.Pod, t.Container, o.Previous)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := os.Stat(path); err != nil && o.Previous {
		writeError(w, fmt.Errorf("open log of %s/%s/%s: %w", t.Namespace, t.Pod, t.Container, err))
		return
	}
	// A log that does not exist yet (not started) reads as empty, as the
	// kubelet's.
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	var follow *crilog.Follow
	if o.Follow && !o.Previous {
		flusher, _ := w.(http.Flusher)
		follow = &crilog.Follow{Running: running, Interval: followInterval, Flush: func() {
			if flusher != nil {
				flusher.Flush()
			}
		}}
	}
	err = crilog.Copy(r.Context(), w, path, crilog.Options{
		Timestamps: o.Timestamps, Since: o.Since, Tail: o.TailLines, LimitBytes: o.LimitBytes,
	}, follow)
	if err != nil && !errors.Is(err, r.Context().Err()) {
		s.log.Debug("container log copy ended", "pod", t.Namespace+"/"+t.Pod, "container", t.Container, "err", err)
	}
}
