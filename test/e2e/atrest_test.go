package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard-net/switchyard/controlplane/store"
)

// TestSecretsAtRest runs the daemon with --encryption-key-file and reads
// its etcd directly (the embedded etcd opened on the stopped daemon's data
// dir): a Secret written before encryption stays readable, a new one is
// ciphertext naming the key; after a rotation (a new first key) the
// README's `kubectl get secrets -A -o json | kubectl replace -f -`
// re-encrypts every Secret with the new key, so the old key can go.
func TestSecretsAtRest(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "keys")
	newKey := func(name string) string {
		b := make([]byte, 32)
		rand.Read(b)
		return name + ":" + base64.StdEncoding.EncodeToString(b)
	}
	keyA, keyB := newKey("a"), newKey("b")
	writeKeys := func(lines ...string) {
		if err := os.WriteFile(keyFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	secret := func(name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: map[string]string{"password": "pw-of-" + name}}
	}
	// raw returns what etcd holds for each Secret, with the daemon stopped.
	raw := func() map[string][]byte {
		t.Helper()
		st, err := store.Open(ctx, store.Config{DataDir: dir, CompactInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		resp, err := st.Client().Get(ctx, "/registry/core/secrets/default/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]byte{}
		for _, kv := range resp.Kvs {
			out[filepath.Base(string(kv.Key))] = kv.Value
		}
		return out
	}
	readable := func(d *daemon, names ...string) {
		t.Helper()
		for _, n := range names {
			s, err := d.client().CoreV1().Secrets("default").Get(ctx, n, metav1.GetOptions{})
			if err != nil || string(s.Data["password"]) != "pw-of-"+n {
				t.Fatalf("secret %s: %v %v", n, s, err)
			}
		}
	}

	d := startDaemon(t, dir, "")
	addr := d.addr
	if _, err := d.client().CoreV1().Secrets("default").Create(ctx, secret("before"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d.stop()

	writeKeys(keyA)
	d = startDaemon(t, dir, addr, "--encryption-key-file", keyFile)
	if _, err := d.client().CoreV1().Secrets("default").Create(ctx, secret("db"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	readable(d, "before", "db")
	d.stop()
	got := raw()
	if !bytes.Contains(got["before"], []byte("pw-of-before")) && !bytes.Contains(got["before"], []byte(base64.StdEncoding.EncodeToString([]byte("pw-of-before")))) {
		t.Errorf("the Secret from before encryption: %q", got["before"])
	}
	if v := got["db"]; !bytes.HasPrefix(v, []byte("k8s:enc:aesgcm:v1:a:")) || bytes.Contains(v, []byte(base64.StdEncoding.EncodeToString([]byte("pw-of-db")))) {
		t.Errorf("db in etcd: %q", v)
	}

	// Rotation: b first, a still there to read what it encrypted.
	writeKeys(keyB, keyA)
	d = startDaemon(t, dir, addr, "--encryption-key-file", keyFile)
	readable(d, "before", "db")
	rewrite := exec.Command("sh", "-c", "kubectl get secrets -A -o json | kubectl replace -f -")
	rewrite.Env = append(os.Environ(), "KUBECONFIG="+d.kubeconfig())
	if out, err := rewrite.CombinedOutput(); err != nil || !strings.Contains(string(out), `secret/db replaced`) {
		t.Fatalf("rewrite: %v\n%s", err, out)
	}
	d.stop()
	for name, v := range raw() {
		if !bytes.HasPrefix(v, []byte("k8s:enc:aesgcm:v1:b:")) {
			t.Errorf("%s after the rewrite: %q", name, v[:min(len(v), 40)])
		}
	}

	// Key a retired: everything still reads.
	writeKeys(keyB)
	d = startDaemon(t, dir, addr, "--encryption-key-file", keyFile)
	readable(d, "before", "db")
}
