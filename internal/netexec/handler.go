package netexec

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// defaultBytes is the size /bytes answers when neither the query nor
// Config.ResponseSize sets one.
const defaultBytes = 1024

// filler is the body of /bytes and fixed-size mode, written in chunks of at
// most its length. It is never modified.
var filler = bytes.Repeat([]byte{'x'}, 64<<10)

// Header values shared by every response; net/http only reads them.
var (
	textPlain = []string{"text/plain; charset=utf-8"}
	appJSON   = []string{"application/json"}
	octets    = []string{"application/octet-stream"}
	okBody    = []byte("ok")
)

// handler serves the HTTP side. Its fields are set once by NewHandler and
// only read afterwards, so it is safe for concurrent use.
type handler struct {
	hostname    []byte
	hostnameLen []string
	size        int      // fixed-size mode when > 0
	sizeLen     []string // Content-Length of the fixed-size body
	onShutdown  func()
}

// NewHandler returns the HTTP handler of a netexec server answering as cfg
// says (cfg.Hostname is used as given; "" is answered as ""). /shutdown
// calls shutdown after its response is written; when shutdown is nil,
// /shutdown answers 501.
func NewHandler(cfg Config, shutdown func()) http.Handler {
	size := min(max(cfg.ResponseSize, 0), MaxBytes)
	return &handler{
		hostname:    []byte(cfg.Hostname),
		hostnameLen: []string{strconv.Itoa(len(cfg.Hostname))},
		size:        size,
		sizeLen:     []string{strconv.Itoa(size)},
		onShutdown:  shutdown,
	}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/hostname":
		writeBody(w, textPlain, h.hostnameLen, h.hostname)
	case "/clientip":
		writeString(w, r.RemoteAddr)
	case "/echo":
		writeString(w, queryValue(r.URL.RawQuery, "msg"))
	case "/healthz":
		writeBody(w, textPlain, nil, okBody)
	case "/shutdown":
		h.shutdown(w)
	case "/bytes":
		h.bytes(w, r)
	case WebSocketPath:
		serveWebSocket(w, r)
	default:
		if h.size > 0 {
			writeFill(w, h.sizeLen, h.size)
			return
		}
		h.echoJSON(w, r)
	}
}

func (h *handler) shutdown(w http.ResponseWriter) {
	if h.onShutdown == nil {
		http.Error(w, "shutdown not available", http.StatusNotImplemented)
		return
	}
	writeBody(w, textPlain, nil, []byte("shutting down"))
	// The server stops gracefully, so this response is still delivered.
	h.onShutdown()
}

func (h *handler) bytes(w http.ResponseWriter, r *http.Request) {
	n, cl := h.size, h.sizeLen
	if n == 0 {
		n, cl = defaultBytes, nil
	}
	if s := queryValue(r.URL.RawQuery, "size"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 || v > MaxBytes {
			http.Error(w, "size must be an integer in 0.."+strconv.Itoa(MaxBytes), http.StatusBadRequest)
			return
		}
		n, cl = v, nil
	}
	if cl == nil {
		cl = []string{strconv.Itoa(n)}
	}
	writeFill(w, cl, n)
}

// echoReply is the JSON answer on paths without a meaning of their own.
type echoReply struct {
	Hostname string              `json:"hostname"`
	Method   string              `json:"method"`
	Path     string              `json:"path"`
	Query    map[string][]string `json:"query"`
	Host     string              `json:"host"`
	Proto    string              `json:"proto"`
	Headers  http.Header         `json:"headers"`
	Client   string              `json:"client"`
}

func (h *handler) echoJSON(w http.ResponseWriter, r *http.Request) {
	body, err := json.Marshal(echoReply{
		Hostname: string(h.hostname),
		Method:   r.Method,
		Path:     r.URL.Path,
		Query:    r.URL.Query(),
		Host:     r.Host,
		Proto:    r.Proto,
		Headers:  r.Header,
		Client:   r.RemoteAddr,
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeBody(w, appJSON, []string{strconv.Itoa(len(body) + 1)}, append(body, '\n'))
}

// writeBody sets the headers by direct map assignment (no canonicalising,
// no per-request slices) and writes body. A nil contentLength lets net/http
// compute it.
func writeBody(w http.ResponseWriter, contentType, contentLength []string, body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = contentType
	if contentLength != nil {
		hdr["Content-Length"] = contentLength
	}
	w.Write(body)
}

func writeString(w http.ResponseWriter, s string) {
	w.Header()["Content-Type"] = textPlain
	if sw, ok := w.(interface{ WriteString(string) (int, error) }); ok {
		sw.WriteString(s)
		return
	}
	w.Write([]byte(s))
}

// writeFill writes n bytes of filler.
func writeFill(w http.ResponseWriter, contentLength []string, n int) {
	hdr := w.Header()
	hdr["Content-Type"] = octets
	hdr["Content-Length"] = contentLength
	for n > 0 {
		chunk := min(n, len(filler))
		if _, err := w.Write(filler[:chunk]); err != nil {
			return
		}
		n -= chunk
	}
}

// queryValue returns the first value of key in a raw query string, decoded,
// without building the url.Values map.
func queryValue(raw, key string) string {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if k != key {
			continue
		}
		if !strings.ContainsAny(v, "%+") {
			return v
		}
		if d, err := url.QueryUnescape(v); err == nil {
			return d
		}
		return v
	}
	return ""
}
