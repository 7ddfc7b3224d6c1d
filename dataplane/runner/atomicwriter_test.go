package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		return string(b)
	}
	tsDirs := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "..2*"))
		return m
	}
	first := map[string]volumeFile{
		"greeting":      {data: []byte("hi"), mode: 0o644},
		"conf/app.yaml": {data: []byte("a: 1"), mode: 0o600},
		"old":           {data: []byte("going"), mode: 0o644},
	}
	changed, err := writeAtomic(dir, first)
	if err != nil || !changed {
		t.Fatalf("first write: changed=%v err=%v", changed, err)
	}
	if read("greeting") != "hi" || read("conf/app.yaml") != "a: 1" {
		t.Fatal("payload not readable through the links")
	}
	if target, _ := os.Readlink(filepath.Join(dir, "greeting")); target != "..data/greeting" {
		t.Errorf("greeting links to %q, want ..data/greeting", target)
	}
	if st, _ := os.Stat(filepath.Join(dir, "conf/app.yaml")); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	oldData, _ := os.Readlink(filepath.Join(dir, dataLink))
	if len(tsDirs()) != 1 || !strings.HasPrefix(oldData, "..") {
		t.Fatalf("data dirs %v, ..data -> %q", tsDirs(), oldData)
	}

	// The same payload again changes nothing.
	if changed, err := writeAtomic(dir, first); err != nil || changed {
		t.Errorf("unchanged write: changed=%v err=%v", changed, err)
	}

	// An update swaps ..data to a new directory, drops the old one and the
	// links of keys that went away.
	second := map[string]volumeFile{
		"greeting":      {data: []byte("hello"), mode: 0o644},
		"conf/app.yaml": {data: []byte("a: 1"), mode: 0o600},
	}
	if changed, err := writeAtomic(dir, second); err != nil || !changed {
		t.Fatalf("update: changed=%v err=%v", changed, err)
	}
	newData, _ := os.Readlink(filepath.Join(dir, dataLink))
	if newData == oldData {
		t.Error("..data still points at the old directory")
	}
	if _, err := os.Stat(filepath.Join(dir, oldData)); !os.IsNotExist(err) {
		t.Errorf("old data dir %s still there: %v", oldData, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "old")); !os.IsNotExist(err) {
		t.Errorf("link of a removed key still there: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, dataLinkTmp)); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", dataLinkTmp, err)
	}
	if read("greeting") != "hello" || len(tsDirs()) != 1 {
		t.Errorf("after update: greeting=%q data dirs %v", read("greeting"), tsDirs())
	}
	// A mode change alone is a change.
	second["greeting"] = volumeFile{data: []byte("hello"), mode: 0o400}
	if changed, _ := writeAtomic(dir, second); !changed {
		t.Error("a mode change was not written")
	}
}

func TestAddFileRejectsEscapes(t *testing.T) {
	for _, p := range []string{"", "/abs", "..", "../x", "a/../../x", "..data", "a/..hidden"} {
		if err := addFile(map[string]volumeFile{}, p, nil, nil, 0o644); err == nil {
			t.Errorf("addFile(%q): no error", p)
		}
	}
	out := map[string]volumeFile{}
	if err := addFile(out, "a/./b", []byte("x"), nil, 0o640); err != nil || out["a/b"].mode != 0o640 {
		t.Errorf("addFile(a/./b): %v %+v", err, out)
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{`/a\040b`: "/a b", `/plain`: "/plain", `/x\134y`: `/x\y`, `/bad\09`: `/bad\09`} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzAddFile(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../x", "/abs", "a/../../b", "..data", "./a", "a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		out := map[string]volumeFile{}
		if addFile(out, rel, []byte("x"), nil, 0o644) != nil {
			return
		}
		for k := range out {
			if !filepath.IsLocal(k) || strings.HasPrefix(filepath.Base(k), "..") {
				t.Errorf("addFile(%q) stored %q, which is not a plain path inside the volume", rel, k)
			}
		}
	})
}

func FuzzUnescapeMountinfo(f *testing.F) {
	for _, s := range []string{"/a b", `/x\y`, "/t\tn\n", "/plain", `\040`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// The kernel escapes space, tab, newline and backslash as \ooo.
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			switch c := s[i]; c {
			case ' ', '\t', '\n', '\\':
				b.WriteString(`\` + string('0'+c>>6) + string('0'+(c>>3)&7) + string('0'+c&7))
			default:
				b.WriteByte(c)
			}
		}
		if got := unescapeMountinfo(b.String()); got != s {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", b.String(), got, s)
		}
	})
}
