package nodemetrics

import (
	"encoding/json"
	"net/http"
)

// SummaryPath is where Handler serves the summary, the kubelet's path.
const SummaryPath = "/stats/summary"

// WindowHeader carries the CPU window of a summary (a Go duration, e.g.
// "5s"): the kubelet's document has no field for it and
// metrics.k8s.io reports it.
const WindowHeader = "X-Switchyard-Stats-Window"

// Handler serves GET SummaryPath with the sampler's summary as JSON. It
// answers 503 until the first sample is taken.
func (s *Sampler) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+SummaryPath, func(w http.ResponseWriter, r *http.Request) {
		sum, window, ok := s.Summary()
		if !ok {
			http.Error(w, "no sample taken yet", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(WindowHeader, window.String())
		if err := json.NewEncoder(w).Encode(sum); err != nil {
			s.log.Debug("write summary", "err", err)
		}
	})
	return mux
}
