// Package audit writes the API server's audit log: one JSON line per
// request, shaped as Kubernetes' audit.k8s.io/v1 Event at level Metadata
// (who, verb, object, response code, timestamps; never a request or
// response body, so Secret contents never reach the log). The file is
// bounded: when a line would take it past MaxSize it is renamed to
// FILE.1 (replacing the previous one) and a new file is started, so the
// log never holds more than twice MaxSize.
//
// The middleware (Handler) is the outermost layer of the API server's
// handler chain; authentication, further in, names the user with SetUser.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// Event is an audit.k8s.io/v1 Event (the fields of level Metadata).
type Event struct {
	Kind                     string           `json:"kind"`
	APIVersion               string           `json:"apiVersion"`
	Level                    string           `json:"level"`
	AuditID                  string           `json:"auditID"`
	Stage                    string           `json:"stage"`
	RequestURI               string           `json:"requestURI"`
	Verb                     string           `json:"verb"`
	User                     User             `json:"user"`
	SourceIPs                []string         `json:"sourceIPs,omitempty"`
	UserAgent                string           `json:"userAgent,omitempty"`
	ObjectRef                *ObjectReference `json:"objectRef,omitempty"`
	ResponseStatus           *metav1.Status   `json:"responseStatus,omitempty"`
	RequestReceivedTimestamp metav1.MicroTime `json:"requestReceivedTimestamp"`
	StageTimestamp           metav1.MicroTime `json:"stageTimestamp"`
}

// User is the authenticated user of an Event.
type User struct {
	Username string   `json:"username,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// ObjectReference is what a resource request is about.
type ObjectReference struct {
	Resource    string `json:"resource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name,omitempty"`
	APIGroup    string `json:"apiGroup,omitempty"`
	APIVersion  string `json:"apiVersion,omitempty"`
	Subresource string `json:"subresource,omitempty"`
}

// DefaultMaxSize bounds the log when Config.MaxSize is 0 (100 MB, as the
// daemon's --audit-log-maxsize default).
const DefaultMaxSize = 100 << 20

// Config configures Open.
type Config struct {
	Path string
	// MaxSize is the size in bytes at which the file is rotated.
	MaxSize int64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Log is an open audit log. Safe for concurrent use.
type Log struct {
	cfg  Config
	mu   sync.Mutex // guards f and size
	f    *os.File
	size int64
}

// Open opens (appends to) the audit log file, creating it with mode 0600.
func Open(cfg Config) (*Log, error) {
	if cfg.Path == "" {
		return nil, errors.New("audit: no path")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Log{cfg: cfg}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Log) open() error {
	f, err := os.OpenFile(l.cfg.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("audit: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Close closes the file. Events after Close are dropped.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// write appends one event, rotating first when the line would not fit.
func (l *Log) write(ev *Event) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("audit: log closed")
	}
	if l.size > 0 && l.size+int64(len(line)) > l.cfg.MaxSize {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	n, err := l.f.Write(line)
	l.size += int64(n)
	return err
}

// rotate renames the file to FILE.1 and starts a new one.
func (l *Log) rotate() error {
	l.f.Close()
	l.f = nil
	if err := os.Rename(l.cfg.Path, l.cfg.Path+".1"); err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	return l.open()
}

type userKey struct{}

// userSlot is where authentication leaves the user for the event.
type userSlot struct{ user User }

// SetUser records the authenticated user of the request ctx belongs to;
// it does nothing outside an audited request.
func SetUser(ctx context.Context, name string, groups []string) {
	if s, ok := ctx.Value(userKey{}).(*userSlot); ok {
		s.user = User{Username: name, Groups: append([]string(nil), groups...)}
	}
}

// Handler logs every request next serves, except the health checks
// (/healthz, /livez, /readyz), once its response is complete. A failure
// to write the log is reported to onError (nil: ignored); the request is
// served either way.
func (l *Log) Handler(next http.Handler, onError func(error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isHealth(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		received := l.cfg.Now()
		slot := &userSlot{}
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), userKey{}, slot)))
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		verb, ref := requestInfo(r)
		ev := &Event{
			Kind: "Event", APIVersion: "audit.k8s.io/v1", Level: "Metadata", Stage: "ResponseComplete",
			AuditID: string(uuid.NewUUID()), RequestURI: r.URL.RequestURI(), Verb: verb, User: slot.user,
			SourceIPs: sourceIPs(r), UserAgent: r.UserAgent(), ObjectRef: ref,
			ResponseStatus:           &metav1.Status{Code: int32(code)},
			RequestReceivedTimestamp: metav1.NewMicroTime(received),
			StageTimestamp:           metav1.NewMicroTime(l.cfg.Now()),
		}
		if err := l.write(ev); err != nil && onError != nil {
			onError(err)
		}
	})
}

func isHealth(p string) bool { return p == "/healthz" || p == "/livez" || p == "/readyz" }

func sourceIPs(r *http.Request) []string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if host == "" {
		return nil
	}
	return []string{strings.Trim(host, "[]")}
}
