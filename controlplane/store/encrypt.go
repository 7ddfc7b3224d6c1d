package store

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Encryption encrypts the values of some key prefixes at rest with
// AES-GCM, as kube-apiserver's aesgcm provider does: a stored value is
// "k8s:enc:aesgcm:v1:<key name>:" followed by a random 12-byte nonce and
// the sealed data, authenticated together with its etcd key (so a value
// copied under another key does not decrypt). The first key encrypts;
// every key decrypts, and so does plaintext written before encryption was
// turned on. A value is re-encrypted with the first key whenever it is
// written, which is how a rotation completes (see README: rewrite every
// Secret). Safe for concurrent use.
type Encryption struct {
	prefixes []string
	keys     []aesKey // keys[0] encrypts
}

type aesKey struct {
	name string
	aead cipher.AEAD
}

// SecretsPrefix is the key prefix of Secrets, the resource Kubernetes
// clusters encrypt.
const SecretsPrefix = "/registry/core/secrets/"

const encPrefix = "k8s:enc:aesgcm:v1:"

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ErrDecrypt says a stored value could not be decrypted with any key.
var ErrDecrypt = errors.New("cannot decrypt stored value")

// LoadEncryptionKeys reads an --encryption-key-file: either exactly 32
// raw bytes (one key), or text lines each holding one key as base64 of 32
// bytes, optionally named "NAME:BASE64" (blank lines and # comments are
// skipped). The first key encrypts. An unnamed key is named after its
// SHA-256, so a key keeps its name when the file is rewritten. Values are
// encrypted under prefixes (default SecretsPrefix).
func LoadEncryptionKeys(path string, prefixes ...string) (*Encryption, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("encryption key file: %w", err)
	}
	e, err := ParseEncryptionKeys(b, prefixes...)
	if err != nil {
		return nil, fmt.Errorf("encryption key file %s: %w", path, err)
	}
	return e, nil
}

// ParseEncryptionKeys parses the content of an encryption key file (see
// LoadEncryptionKeys).
func ParseEncryptionKeys(b []byte, prefixes ...string) (*Encryption, error) {
	if len(prefixes) == 0 {
		prefixes = []string{SecretsPrefix}
	}
	e := &Encryption{prefixes: prefixes}
	if len(b) == 32 {
		k, err := newAESKey("", b)
		if err != nil {
			return nil, err
		}
		e.keys = []aesKey{k}
		return e, nil
	}
	seen := map[string]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, enc, named := strings.Cut(line, ":")
		if !named {
			name, enc = "", line
		}
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("line %d: a key is base64 of 32 bytes (head -c 32 /dev/urandom | base64)", i+1)
		}
		k, err := newAESKey(name, raw)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		if seen[k.name] {
			return nil, fmt.Errorf("line %d: key name %q used twice", i+1, k.name)
		}
		seen[k.name] = true
		e.keys = append(e.keys, k)
	}
	if len(e.keys) == 0 {
		return nil, errors.New("no key: give 32 random bytes, or lines of NAME:BASE64 keys")
	}
	return e, nil
}

func newAESKey(name string, raw []byte) (aesKey, error) {
	if name == "" {
		sum := sha256.Sum256(raw)
		name = "key-" + hex.EncodeToString(sum[:4])
	}
	if !keyNameRE.MatchString(name) {
		return aesKey{}, fmt.Errorf("key name %q: use letters, digits, '.', '_' and '-'", name)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return aesKey{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return aesKey{}, err
	}
	return aesKey{name: name, aead: aead}, nil
}

// KeyName is the name of the key that encrypts.
func (e *Encryption) KeyName() string { return e.keys[0].name }

func (e *Encryption) covers(key string) bool {
	for _, p := range e.prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// seal encrypts value for key with the first key (when key is covered).
func (e *Encryption) seal(key string, value []byte) ([]byte, error) {
	if e == nil || !e.covers(key) {
		return value, nil
	}
	k := e.keys[0]
	head := encPrefix + k.name + ":"
	out := make([]byte, len(head), len(head)+k.aead.NonceSize()+len(value)+k.aead.Overhead())
	copy(out, head)
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypt %s: %w", key, err)
	}
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, value, []byte(key)), nil
}

// open decrypts a stored value; plaintext (no prefix) passes unchanged.
func (e *Encryption) open(key string, stored []byte) ([]byte, error) {
	if !bytes.HasPrefix(stored, []byte(encPrefix)) {
		return stored, nil
	}
	if e == nil {
		return nil, fmt.Errorf("%s: %w: encrypted, and no --encryption-key-file was given", key, ErrDecrypt)
	}
	rest := stored[len(encPrefix):]
	i := bytes.IndexByte(rest, ':')
	if i < 0 {
		return nil, fmt.Errorf("%s: %w: no key name", key, ErrDecrypt)
	}
	name, data := string(rest[:i]), rest[i+1:]
	for _, k := range e.keys {
		if k.name != name {
			continue
		}
		ns := k.aead.NonceSize()
		if len(data) < ns+k.aead.Overhead() {
			return nil, fmt.Errorf("%s: %w: too short", key, ErrDecrypt)
		}
		plain, err := k.aead.Open(nil, data[:ns], data[ns:], []byte(key))
		if err != nil {
			return nil, fmt.Errorf("%s: %w with key %q: %v", key, ErrDecrypt, name, err)
		}
		return plain, nil
	}
	return nil, fmt.Errorf("%s: %w: encrypted with key %q, which the key file does not hold", key, ErrDecrypt, name)
}

// Stale says the key's stored value is not what a write would store now:
// a key Encryption covers, held in plaintext or under a key other than
// the first. An update that changes nothing must still rewrite such a
// value, which is how a key rotation completes (Kubernetes'
// GuaranteedUpdate does the same for stale reads). Keys no encryption
// covers are never stale, and cost no read.
func (s *Store) Stale(ctx context.Context, key string) bool {
	e := s.cfg.Encryption
	if e == nil || !e.covers(key) {
		return false
	}
	resp, err := s.client.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 {
		return false
	}
	return !bytes.HasPrefix(resp.Kvs[0].Value, []byte(encPrefix+e.keys[0].name+":"))
}
