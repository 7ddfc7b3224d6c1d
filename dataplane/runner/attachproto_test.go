package runner

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFrames(t *testing.T) {
	var b []byte
	b = appendFrame(b, frameStdout, []byte("hello"))
	b = appendFrame(b, frameStdinOpen, nil)
	b = appendFrame(b, frameResize, resizePayload(TerminalSize{Width: 80, Height: 24}))
	r := bytes.NewReader(b)
	for _, want := range []struct {
		kind    byte
		payload string
	}{{frameStdout, "hello"}, {frameStdinOpen, ""}, {frameResize, "\x00\x50\x00\x18"}} {
		kind, p, err := readFrame(r)
		if err != nil || kind != want.kind || string(p) != want.payload {
			t.Errorf("readFrame = %d %q %v, want %d %q", kind, p, err, want.kind, want.payload)
		}
	}
	if _, _, err := readFrame(r); err != io.EOF {
		t.Errorf("at the end: %v, want EOF", err)
	}
	if s := parseResize(resizePayload(TerminalSize{Width: 300, Height: 7})); s != (TerminalSize{300, 7}) {
		t.Errorf("resize round trip: %+v", s)
	}
	for name, bad := range map[string][]byte{
		"unknown kind": appendFrame(nil, 9, nil),
		"too large":    {frameStdin, 0xff, 0xff, 0xff, 0xff},
		"short resize": appendFrame(nil, frameResize, []byte{1}),
		"truncated":    {frameStdin, 0, 0, 0, 5, 'a'},
	} {
		if _, _, err := readFrame(bytes.NewReader(bad)); !errors.Is(err, errFrame) {
			t.Errorf("%s: %v, want a frame error", name, err)
		}
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(appendFrame(nil, frameStdin, []byte("x")))
	f.Add(appendFrame(nil, frameResize, []byte{0, 80, 0, 24}))
	f.Add([]byte{frameStdout, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			kind, p, err := readFrame(r)
			if err != nil {
				return
			}
			// A frame read is a frame that encodes to the bytes read.
			if again := appendFrame(nil, kind, p); len(again) != 5+len(p) || again[0] != kind {
				t.Fatalf("frame %d %q re-encodes to %q", kind, p, again)
			}
		}
	})
}
