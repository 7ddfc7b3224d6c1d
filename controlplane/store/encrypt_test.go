package store

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func keyLine(name string, fill byte) string {
	return name + ":" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, 32))
}

func mustKeys(t *testing.T, lines ...string) *Encryption {
	t.Helper()
	e, err := ParseEncryptionKeys([]byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestSecretsEncryptedAtRest reads etcd directly (the embedded etcd's
// client) to see what a disk holds: Secrets written with a key are
// ciphertext naming the key, other kinds stay plaintext, plaintext written
// before encryption still reads, a rotation (new first key) decrypts old
// values and re-encrypts each one that is written, and a value that was
// tampered with or moved to another key does not decrypt.
func TestSecretsEncryptedAtRest(t *testing.T) {
	s := openTest(t, "")
	ctx := testCtx(t)
	raw := func(key string) []byte {
		t.Helper()
		resp, err := s.Client().Get(ctx, key)
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("raw get %s: %v", key, err)
		}
		return resp.Kvs[0].Value
	}
	read := func(key string) (string, error) {
		kv, err := s.Get(ctx, key)
		return string(kv.Value), err
	}
	const old, sec, cm = "/registry/core/secrets/default/old", "/registry/core/secrets/default/db", "/registry/core/configmaps/default/cfg"
	mustCreate(t, s, old, `{"data":{"pw":"plain-before"}}`) // before encryption was turned on

	s.cfg.Encryption = mustKeys(t, keyLine("a", 1))
	wctx, stopWatch := context.WithCancel(ctx)
	watch, err := s.Watch(wctx, "/registry/core/secrets/", 0)
	if err != nil {
		t.Fatal(err)
	}
	rev := mustCreate(t, s, sec, `{"data":{"pw":"s3cret"}}`)
	mustCreate(t, s, cm, `{"data":{"k":"visible"}}`)
	if v := raw(sec); !bytes.HasPrefix(v, []byte("k8s:enc:aesgcm:v1:a:")) || bytes.Contains(v, []byte("s3cret")) {
		t.Fatalf("secret in etcd: %q", v)
	}
	if v := raw(cm); !bytes.Contains(v, []byte("visible")) {
		t.Fatalf("configmap in etcd: %q", v)
	}
	if got, err := read(sec); err != nil || got != `{"data":{"pw":"s3cret"}}` {
		t.Fatalf("Get: %q %v", got, err)
	}
	if got, err := read(old); err != nil || got != `{"data":{"pw":"plain-before"}}` {
		t.Fatalf("plaintext from before: %q %v", got, err)
	}
	if ev := <-watch; ev.Err != nil || string(ev.KV.Value) != `{"data":{"pw":"s3cret"}}` {
		t.Fatalf("watch event %+v", ev)
	}
	stopWatch()
	for range watch { // closed once its goroutine is done with the keys
	}

	if s.Stale(ctx, sec) || s.Stale(ctx, cm) || !s.Stale(ctx, old) {
		t.Fatal("Stale: only the plaintext Secret needs rewriting")
	}

	// Rotation: b encrypts, a still decrypts; a write re-encrypts with b.
	s.cfg.Encryption = mustKeys(t, keyLine("b", 2), keyLine("a", 1))
	if !s.Stale(ctx, sec) {
		t.Fatal("Stale: a Secret under the old key needs rewriting")
	}
	if got, err := read(sec); err != nil || !strings.Contains(got, "s3cret") {
		t.Fatalf("after rotation: %q %v", got, err)
	}
	if _, err := s.Update(ctx, sec, []byte(`{"data":{"pw":"s3cret"}}`), rev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, old, []byte(`{"data":{"pw":"plain-before"}}`), 0); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{sec, old} {
		if v := raw(k); !bytes.HasPrefix(v, []byte("k8s:enc:aesgcm:v1:b:")) {
			t.Fatalf("%s after rewrite: %q", k, v)
		}
	}
	s.cfg.Encryption = mustKeys(t, keyLine("b", 2)) // a retired
	if got, err := read(sec); err != nil || !strings.Contains(got, "s3cret") {
		t.Fatalf("with b only: %q %v", got, err)
	}
	s.cfg.Encryption = mustKeys(t, keyLine("a", 1))
	if _, err := read(sec); !errors.Is(err, ErrDecrypt) || !strings.Contains(err.Error(), `key "b", which the key file does not hold`) {
		t.Fatalf("without the key: %v", err)
	}
	s.cfg.Encryption = nil
	if _, err := read(sec); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("without any key: %v", err)
	}

	// Tampered or moved ciphertext does not decrypt.
	s.cfg.Encryption = mustKeys(t, keyLine("b", 2))
	v := raw(sec)
	tampered := append([]byte(nil), v...)
	tampered[len(tampered)-1] ^= 1
	if _, err := s.Client().Put(ctx, sec, string(tampered)); err != nil {
		t.Fatal(err)
	}
	if _, err := read(sec); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := s.Client().Put(ctx, "/registry/core/secrets/default/copy", string(v)); err != nil {
		t.Fatal(err)
	}
	if _, err := read("/registry/core/secrets/default/copy"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("value moved to another key: %v", err)
	}
}

func TestParseEncryptionKeys(t *testing.T) {
	raw32 := bytes.Repeat([]byte{7}, 32)
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"raw bytes", string(raw32), "key-", ""},
		{"one base64 line", base64.StdEncoding.EncodeToString(raw32) + "\n", "key-", ""},
		{"named list, first encrypts", "# rotated 2026-12\n" + keyLine("new", 3) + "\n\n" + keyLine("old", 4) + "\n", "new", ""},
		{"short key", "k:" + base64.StdEncoding.EncodeToString([]byte("short")), "", "line 1: a key is base64 of 32 bytes"},
		{"not base64", "k:!!!", "", "line 1: a key is base64 of 32 bytes"},
		{"bad name", keyLine("a b", 1), "", `key name "a b"`},
		{"duplicate", keyLine("a", 1) + "\n" + keyLine("a", 2), "", `line 2: key name "a" used twice`},
		{"empty", "\n# nothing\n", "", "no key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseEncryptionKeys([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !strings.HasPrefix(e.KeyName(), tc.want) {
				t.Fatalf("%v, key %q", err, e.KeyName())
			}
		})
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "key")
	if err := os.WriteFile(f, raw32, 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := LoadEncryptionKeys(f)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseEncryptionKeys([]byte(base64.StdEncoding.EncodeToString(raw32)))
	if a.KeyName() != b.KeyName() {
		t.Fatalf("the same key got two names: %s %s", a.KeyName(), b.KeyName())
	}
}

// FuzzEncryption: key files and stored values of any shape never panic,
// and what is sealed opens to the same bytes.
func FuzzEncryption(f *testing.F) {
	e, _ := ParseEncryptionKeys([]byte(keyLine("a", 1) + "\n" + keyLine("b", 2)))
	sealed, _ := e.seal(SecretsPrefix+"x", []byte("v"))
	f.Add([]byte(keyLine("a", 1)), sealed)
	f.Add([]byte("k8s:enc:aesgcm:v1:a:"), []byte("k8s:enc:aesgcm:v1:"))
	f.Add([]byte{}, []byte("plain"))
	f.Fuzz(func(t *testing.T, keyFile, stored []byte) {
		if k, err := ParseEncryptionKeys(keyFile); err == nil {
			out, err := k.seal(SecretsPrefix+"y", stored)
			if err != nil {
				t.Fatal(err)
			}
			back, err := k.open(SecretsPrefix+"y", out)
			if err != nil || !bytes.Equal(back, stored) {
				t.Fatalf("round trip: %q %v", back, err)
			}
		}
		if _, err := e.open(SecretsPrefix+"x", stored); err == nil && bytes.HasPrefix(stored, []byte(encPrefix)) {
			flipped := append([]byte(nil), stored...)
			flipped[len(flipped)-1] ^= 0x80
			if plain, err := e.open(SecretsPrefix+"x", flipped); err == nil {
				t.Fatalf("a changed ciphertext opened: %q -> %q", flipped, plain)
			}
		}
	})
}
