package crilog

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	ts := time.Date(2026, 12, 7, 21, 0, 0, 123456789, time.UTC)
	tests := []struct {
		line    string
		want    Record
		wantErr bool
	}{
		{line: "2026-12-07T21:00:00.123456789Z stdout F hello world\n", want: Record{Time: ts, Stream: Stdout, Content: []byte("hello world")}},
		{line: "2026-12-07T21:00:00.123456789Z stderr P part", want: Record{Time: ts, Stream: Stderr, Partial: true, Content: []byte("part")}},
		{line: "2026-12-07T21:00:00.123456789Z stdout F", want: Record{Time: ts, Stream: Stdout, Content: []byte{}}},
		{line: "2026-12-07T21:00:00.123456789Z stdout F  two  spaces ", want: Record{Time: ts, Stream: Stdout, Content: []byte(" two  spaces ")}},
		{line: "2026-12-07T22:00:00.123456789+01:00 stdout F:x=y tagged", want: Record{Time: ts, Stream: Stdout, Content: []byte("tagged")}},
		{line: "2026-12-07T21:00:00Z stdout F no fraction", want: Record{Time: ts.Truncate(time.Second), Stream: Stdout, Content: []byte("no fraction")}},
		{line: "", wantErr: true},
		{line: "hello", wantErr: true},
		{line: "2026-12-07 stdout F x", wantErr: true},
		{line: "2026-12-07T21:00:00Z stdin F x", wantErr: true},
		{line: "2026-12-07T21:00:00Z stdout X x", wantErr: true},
		{line: "2026-12-07T21:00:00Z stdout", wantErr: true},
	}
	for _, tt := range tests {
		got, err := Parse([]byte(tt.line))
		if tt.wantErr {
			if err == nil {
				t.Errorf("Parse(%q) = %+v, want an error", tt.line, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.line, err)
			continue
		}
		if !got.Time.Equal(tt.want.Time) || got.Stream != tt.want.Stream || got.Partial != tt.want.Partial || !bytes.Equal(got.Content, tt.want.Content) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("2026-12-07T21:00:00.123456789Z stdout F hello\n"))
	f.Add([]byte("2026-12-07T21:00:00Z stderr P "))
	f.Add([]byte("2026-12-07T21:00:00+02:00 stdout F:a:b x"))
	f.Add([]byte("x y z"))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := Parse(line)
		if err != nil {
			return
		}
		// What parses survives a round trip, as long as the content has
		// no newline (records never do).
		if bytes.IndexByte(r.Content, '\n') >= 0 {
			return
		}
		again, err := Parse(Append(nil, r))
		if err != nil {
			t.Fatalf("re-parse of %q: %v", Append(nil, r), err)
		}
		if !again.Time.Equal(r.Time) || again.Stream != r.Stream || again.Partial != r.Partial || !bytes.Equal(again.Content, r.Content) {
			t.Fatalf("round trip: %+v became %+v", r, again)
		}
	})
}

// writeLog writes (stream, data) pairs one second apart from base.
func writeLog(t *testing.T, w *Writer, base time.Time, chunks ...string) {
	t.Helper()
	for i := 0; i+1 < len(chunks); i += 2 {
		if err := w.Write(base.Add(time.Duration(i/2)*time.Second), chunks[i], []byte(chunks[i+1])); err != nil {
			t.Fatal(err)
		}
	}
}

func copyString(t *testing.T, path string, o Options) string {
	t.Helper()
	var b strings.Builder
	if err := Copy(context.Background(), &b, path, o, nil); err != nil {
		t.Fatalf("Copy(%+v): %v", o, err)
	}
	return b.String()
}

func TestCopyOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	w, err := Create(path, 0, 5)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 7, 21, 0, 0, 0, time.UTC)
	writeLog(t, w, base,
		Stdout, "one\n",
		Stderr, "two\n",
		Stdout, "thr",
		Stdout, "ee\nfour\n",
		Stdout, "five\n")
	w.Close()
	ts := func(sec int) string { return base.Add(time.Duration(sec) * time.Second).Format(TimeFormat) }
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"all", Options{Tail: -1}, "one\ntwo\nthree\nfour\nfive\n"},
		{"timestamps", Options{Tail: -1, Timestamps: true},
			ts(0) + " one\n" + ts(1) + " two\n" + ts(2) + " three\n" + ts(3) + " four\n" + ts(4) + " five\n"},
		{"tail counts whole lines", Options{Tail: 3}, "three\nfour\nfive\n"},
		{"tail 0", Options{Tail: 0}, ""},
		{"tail more than there is", Options{Tail: 100}, "one\ntwo\nthree\nfour\nfive\n"},
		{"since", Options{Tail: -1, Since: base.Add(3 * time.Second)}, "ee\nfour\nfive\n"},
		{"since and tail", Options{Tail: 2, Since: base.Add(4 * time.Second)}, "five\n"},
		{"limit", Options{Tail: -1, LimitBytes: 6}, "one\ntw"},
		{"limit with timestamps", Options{Tail: 1, Timestamps: true, LimitBytes: 10}, ts(4)[:10]},
	}
	for _, tt := range tests {
		if got := copyString(t, path, tt.o); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
	// A missing log is empty; a damaged line is passed through.
	if got := copyString(t, path+".missing", Options{Tail: -1}); got != "" {
		t.Errorf("missing log: %q", got)
	}
	if err := os.WriteFile(path, []byte("garbage\n2026-12-07T21:00:00Z stdout F ok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := copyString(t, path, Options{Tail: -1, Timestamps: true}); got != "garbage\n2026-12-07T21:00:00.000000000Z ok\n" {
		t.Errorf("damaged log: %q", got)
	}
}

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	rec := len(Append(nil, Record{Time: time.Now(), Stream: Stdout, Content: []byte("line00")}))
	w, err := Create(path, int64(3*rec), 3) // three records a file, three files
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 10 {
		line := "line" + string(rune('0'+i/10)) + string(rune('0'+i%10))
		writeLog(t, w, time.Now(), Stdout, line+"\n")
		want = append(want, line)
	}
	w.Close()
	if got := Files(path); len(got) != 3 || got[0] != path+".2" || got[2] != path {
		t.Fatalf("files after rotation: %v", got)
	}
	// Ten lines in files of three: the oldest file (line00-02) is gone.
	if got, w := copyString(t, path, Options{Tail: -1}), strings.Join(want[3:], "\n")+"\n"; got != w {
		t.Errorf("rotated log = %q, want %q", got, w)
	}
	if got, w := copyString(t, path, Options{Tail: 5}), strings.Join(want[5:], "\n")+"\n"; got != w {
		t.Errorf("tail across files = %q, want %q", got, w)
	}
	if err := Remove(path); err != nil || len(Files(path)) != 0 {
		t.Errorf("Remove: %v, left %v", err, Files(path))
	}
}

func TestFollowAcrossRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	rec := len(Append(nil, Record{Time: time.Now(), Stream: Stdout, Content: []byte("line0")}))
	w, err := Create(path, int64(2*rec), 5)
	if err != nil {
		t.Fatal(err)
	}
	writeLog(t, w, time.Now(), Stdout, "line0\n")
	running := make(chan struct{})
	var out syncBuffer
	done := make(chan error)
	go func() {
		done <- Copy(context.Background(), &out, path, Options{Tail: -1}, &Follow{
			Running: func() bool {
				select {
				case <-running:
					return false
				default:
					return true
				}
			},
			Interval: 5 * time.Millisecond,
		})
	}()
	for i := 1; i < 8; i++ { // several rotations while following
		writeLog(t, w, time.Now(), Stdout, "line"+string(rune('0'+i))+"\n")
		time.Sleep(10 * time.Millisecond)
	}
	w.Close()
	close(running)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "line0\nline1\nline2\nline3\nline4\nline5\nline6\nline7\n" {
		t.Errorf("followed = %q", got)
	}
}

// FuzzCopy: whatever a log file holds, reading it never fails, and a tail
// is the end of the whole: never more, never something else.
func FuzzCopy(f *testing.F) {
	f.Add([]byte("2026-12-07T21:00:00Z stdout F a\n2026-12-07T21:00:01Z stdout P b\n2026-12-07T21:00:02Z stdout F c\n"), int64(1))
	f.Add([]byte("junk\n2026-12-07T21:00:00Z stderr F x\nno newline"), int64(2))
	f.Fuzz(func(t *testing.T, data []byte, n int64) {
		path := filepath.Join(t.TempDir(), "0.log")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		n = max(n%50, -1)
		full, tail := copyString(t, path, Options{Tail: -1}), copyString(t, path, Options{Tail: n})
		if !strings.HasSuffix(full, tail) {
			t.Fatalf("tail %d = %q is not the end of %q", n, tail, full)
		}
		if n == 0 && tail != "" {
			t.Fatalf("tail 0 = %q", tail)
		}
		if n > 0 && strings.Count(tail, "\n") > int(n) && !strings.Contains(string(data), " P ") {
			t.Fatalf("tail %d has %d lines: %q", n, strings.Count(tail, "\n"), tail)
		}
	})
}
