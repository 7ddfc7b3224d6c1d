package crilog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Options are kubelet's log options (PodLogOptions as the node sees them).
type Options struct {
	// Timestamps prefixes each line with the time of its first record.
	Timestamps bool
	// Since drops records older than this time (zero: none).
	Since time.Time
	// Tail starts at the Tail-th line from the end; negative: everything.
	Tail int64
	// LimitBytes stops after this many bytes of output; 0: no limit.
	LimitBytes int64
}

// Follow makes Copy wait for new records after the end of the log.
type Follow struct {
	// Running reports whether the writer may still add records; Copy
	// returns after one last read once it says false.
	Running func() bool
	// Interval is how often the log is checked for growth and
	// rotation (default 200ms).
	Interval time.Duration
	// Flush, when set, is called whenever Copy has written what there
	// is and is about to wait.
	Flush func()
}

// errLimit ends a copy once LimitBytes were written.
var errLimit = errors.New("limit reached")

// Copy writes the log at path, with its rotated predecessors, to out as
// `kubectl logs` shows it: each record's content, a newline after the
// last record of a line, the line's time first with Timestamps. With
// follow (nil: none) it then waits for more, across rotations, until ctx
// ends or the writer stopped. A missing log is an empty one.
func Copy(ctx context.Context, out io.Writer, path string, o Options, follow *Follow) error {
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	// Open them all first: a rotation meanwhile renames, but the opened
	// files stay the ones listed.
	for _, name := range Files(path) {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("open log: %w", err)
		}
		files = append(files, f)
	}
	startFile, startOff := 0, int64(0)
	if o.Tail >= 0 {
		var err error
		if startFile, startOff, err = tailStart(files, o.Tail); err != nil {
			return err
		}
	}
	e := &emitter{out: out, o: o, newLine: true}
	if o.LimitBytes > 0 {
		e.out = &limitWriter{w: out, left: o.LimitBytes}
	}
	for i := startFile; i < len(files); i++ {
		off := int64(0)
		if i == startFile {
			off = startOff
		}
		if _, err := files[i].Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("read log: %w", err)
		}
		last := i == len(files)-1
		if !last || follow == nil {
			if err := e.copyFile(files[i], last); err != nil {
				return e.result(err)
			}
		}
	}
	if follow == nil {
		return nil
	}
	var cur *os.File
	if len(files) > 0 && startFile < len(files) {
		cur = files[len(files)-1]
	}
	return e.result(e.follow(ctx, cur, path, follow))
}

// result hides the end of the output budget, which is no failure.
func (e *emitter) result(err error) error {
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

// emitter turns records into output.
type emitter struct {
	out     io.Writer
	o       Options
	newLine bool // the last record written ended its line
	buf     []byte
	pending []byte // an incomplete last line, when following
}

// copyFile emits every line of f from its offset. The live file's last
// line, when it has no newline yet, is a record being written: it is left
// out (whole files from rotation keep it).
func (e *emitter) copyFile(f *os.File, live bool) error {
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && (err == nil || !live) {
			if werr := e.line(line); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read log: %w", err)
		}
	}
}

// line emits one line of the file (newline included or not).
func (e *emitter) line(l []byte) error {
	r, err := Parse(l)
	if err != nil {
		// Not a record: passed through whole rather than lost.
		e.buf = append(e.buf[:0], l...)
		if e.buf[len(e.buf)-1] != '\n' {
			e.buf = append(e.buf, '\n')
		}
		e.newLine = true
		_, err = e.out.Write(e.buf)
		return err
	}
	if !e.o.Since.IsZero() && r.Time.Before(e.o.Since) {
		return nil
	}
	e.buf = e.buf[:0]
	if e.o.Timestamps && e.newLine {
		e.buf = r.Time.UTC().AppendFormat(e.buf, TimeFormat)
		e.buf = append(e.buf, ' ')
	}
	e.buf = append(e.buf, r.Content...)
	if !r.Partial {
		e.buf = append(e.buf, '\n')
	}
	e.newLine = !r.Partial
	_, err = e.out.Write(e.buf)
	return err
}

// follow emits what is appended to cur (nil: the log did not exist yet),
// switching to the new file at path when the writer rotates.
func (e *emitter) follow(ctx context.Context, cur *os.File, path string, fw *Follow) error {
	interval := fw.Interval
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var opened *os.File // files this function opened, closed on return
	defer func() {
		if opened != nil {
			opened.Close()
		}
	}()
	for {
		alive := fw.Running()
		if cur != nil {
			if err := e.drain(cur); err != nil {
				return err
			}
		}
		// A new file at path: the old one was rotated (or the log just
		// appeared); what the old one got before is read above.
		if f, err := os.Open(path); err == nil {
			if same(cur, f) {
				f.Close()
			} else {
				if err := e.catchUp(cur, path); err != nil {
					f.Close()
					return err
				}
				if opened != nil {
					opened.Close()
				}
				cur, opened = f, f
				e.pending = e.pending[:0]
				continue
			}
		}
		if !alive {
			return nil
		}
		if fw.Flush != nil {
			fw.Flush()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// catchUp emits the rest of cur and of the files rotated after it (when
// the writer rotated more than once between two looks), up to, not
// including, the new file at path.
func (e *emitter) catchUp(cur *os.File, path string) error {
	if cur == nil {
		return nil
	}
	if err := e.drain(cur); err != nil {
		return err
	}
	names := Files(path)
	after := false
	for _, name := range names[:max(len(names)-1, 0)] {
		f, err := os.Open(name)
		if err != nil {
			continue // rotated away meanwhile
		}
		if after {
			e.pending = e.pending[:0]
			err = e.drain(f)
		}
		if same(cur, f) {
			after = true
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func same(a, b *os.File) bool {
	if a == nil {
		return false
	}
	sa, err1 := a.Stat()
	sb, err2 := b.Stat()
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// drain emits the complete lines appended to f since the last read and
// keeps an incomplete last one for the next.
func (e *emitter) drain(f *os.File) error {
	br := bufio.NewReaderSize(f, 64<<10)
	for {
		chunk, err := br.ReadBytes('\n')
		if len(chunk) > 0 {
			if err == nil {
				line := chunk
				if len(e.pending) > 0 {
					line = append(e.pending, chunk...)
				}
				if werr := e.line(line); werr != nil {
					return werr
				}
				e.pending = e.pending[:0]
			} else {
				e.pending = append(e.pending, chunk...)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read log: %w", err)
		}
	}
}

// tailStart finds where the last n lines of the files begin: the file
// index and offset. A line is what `kubectl logs` shows as one: a record
// that does not continue a partial one of its stream starts a line. The
// live file's unterminated last line (a record being written) does not
// count.
func tailStart(files []*os.File, n int64) (int, int64, error) {
	if n == 0 {
		if len(files) == 0 {
			return 0, 0, nil
		}
		end, err := files[len(files)-1].Seek(0, io.SeekEnd)
		return len(files) - 1, end, err
	}
	type pos struct {
		file int
		off  int64
	}
	// A ring of the last n line starts (n can be huge: grown on demand).
	var ring []pos
	next, count := 0, int64(0)
	partial := map[string]bool{}
	for i, f := range files {
		br := bufio.NewReaderSize(f, 64<<10)
		var off int64
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 && (err == nil || i < len(files)-1) {
				start := true
				if r, perr := Parse(line); perr == nil {
					start = !partial[r.Stream]
					partial[r.Stream] = r.Partial
				}
				if start {
					p := pos{i, off}
					if int64(len(ring)) < n {
						ring = append(ring, p)
					} else {
						ring[next] = p
						next = (next + 1) % len(ring)
					}
					count++
				}
			}
			off += int64(len(line))
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return 0, 0, fmt.Errorf("read log: %w", err)
			}
		}
	}
	if count <= n || len(ring) == 0 {
		return 0, 0, nil
	}
	p := ring[next] // the oldest of the last n starts
	return p.file, p.off, nil
}

// limitWriter writes up to left bytes, then fails with errLimit.
type limitWriter struct {
	w    io.Writer
	left int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errLimit
	}
	full := len(p)
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.w.Write(p)
	l.left -= int64(n)
	if err == nil && n < full {
		err = errLimit
	}
	return n, err
}
