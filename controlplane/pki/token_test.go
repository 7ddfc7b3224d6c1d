package pki

import (
	"errors"
	"strings"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	b := ensure(t, t.TempDir(), nil)
	tok, err := NewToken(b.CACertPEM)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseToken(tok.String() + "\n")
	if err != nil {
		t.Fatalf("ParseToken(%q): %v", tok, err)
	}
	if got != tok {
		t.Fatalf("round trip: got %+v, want %+v", got, tok)
	}
	if got.CAHash != CAHash(b.CACert) {
		t.Errorf("token pins %s, CA hash is %s", got.CAHash, CAHash(b.CACert))
	}
	other, _ := NewToken(b.CACertPEM)
	if other.Secret == tok.Secret || other.ID == tok.ID {
		t.Error("two new tokens share their id or secret")
	}
}

func TestParseTokenRejects(t *testing.T) {
	hash := "sha256:" + strings.Repeat("ab", 32)
	for name, s := range map[string]string{
		"empty":          "",
		"no prefix":      "abcdef." + strings.Repeat("a", 32) + "." + hash,
		"wrong prefix":   "sy2.abcdef." + strings.Repeat("a", 32) + "." + hash,
		"short secret":   "sy1.abcdef." + strings.Repeat("a", 31) + "." + hash,
		"upper case":     "sy1.ABCDEF." + strings.Repeat("a", 32) + "." + hash,
		"no hash":        "sy1.abcdef." + strings.Repeat("a", 32),
		"md5 hash":       "sy1.abcdef." + strings.Repeat("a", 32) + ".md5:" + strings.Repeat("ab", 16),
		"short hash":     "sy1.abcdef." + strings.Repeat("a", 32) + ".sha256:abcd",
		"non-hex hash":   "sy1.abcdef." + strings.Repeat("a", 32) + ".sha256:" + strings.Repeat("zz", 32),
		"extra part":     "sy1.abcdef." + strings.Repeat("a", 32) + "." + hash + ".x",
		"secret w/ dash": "sy1.abcdef." + strings.Repeat("a", 31) + "-." + hash,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseToken(s)
			if !errors.Is(err, ErrBadToken) {
				t.Fatalf("ParseToken(%q) = %v, want ErrBadToken", s, err)
			}
			if len(s) > 20 && strings.Contains(err.Error(), strings.Repeat("a", 31)) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

func TestTokenMatches(t *testing.T) {
	b := ensure(t, t.TempDir(), nil)
	tok, _ := NewToken(b.CACertPEM)
	id, secret, err := ParseCredential(tok.Credential())
	if err != nil || !tok.Matches(id, secret) {
		t.Fatalf("own credential does not match: %v", err)
	}
	wrong := []byte(secret)
	wrong[0] ^= 1
	if tok.Matches(id, string(wrong)) {
		t.Error("a wrong secret matches")
	}
	if tok.Matches("zzzzzz", secret) {
		t.Error("a wrong id matches")
	}
	if _, _, err := ParseCredential("nodot"); !errors.Is(err, ErrBadToken) {
		t.Errorf("ParseCredential(nodot) = %v", err)
	}
}

func TestVerifyCAPinsThePublicKey(t *testing.T) {
	b := ensure(t, t.TempDir(), nil)
	other := ensure(t, t.TempDir(), nil)
	tok, _ := NewToken(b.CACertPEM)
	if _, err := tok.VerifyCA(b.CACertPEM); err != nil {
		t.Fatalf("the pinned CA is refused: %v", err)
	}
	if _, err := tok.VerifyCA(other.CACertPEM); !errors.Is(err, ErrCAMismatch) {
		t.Fatalf("another CA: %v, want ErrCAMismatch", err)
	}
	// A leaf signed by the right CA is not the CA.
	leaf, _, err := b.IssueClientCert("x", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.VerifyCA(leaf); !errors.Is(err, ErrCAMismatch) {
		t.Fatalf("a leaf: %v, want ErrCAMismatch", err)
	}
	if _, err := tok.VerifyCA([]byte("garbage")); err == nil {
		t.Fatal("garbage accepted as CA")
	}
}

func TestSignCSRSetsTheSubject(t *testing.T) {
	b := ensure(t, t.TempDir(), nil)
	csr, _, err := NewCSR("system:node:evil")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := b.SignCSR(csr, "system:node:w1", []string{NodesGroup}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCert(t, certPEM)
	if c.Subject.CommonName != "system:node:w1" || len(c.Subject.Organization) != 1 || c.Subject.Organization[0] != NodesGroup {
		t.Errorf("subject %v, want CN=system:node:w1 O=system:nodes", c.Subject)
	}
	if _, err := b.SignCSR([]byte("not a csr"), "x", nil, 0); err == nil {
		t.Error("garbage CSR signed")
	}
}

func TestInstallRefusesAnotherCA(t *testing.T) {
	b := ensure(t, t.TempDir(), nil)
	shared, err := b.Shared()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := Install(dir, shared); err != nil {
		t.Fatal(err)
	}
	joined := ensure(t, dir, nil)
	if CAHash(joined.CACert) != CAHash(b.CACert) || string(joined.AdminCertPEM) != string(b.AdminCertPEM) {
		t.Fatal("Ensure after Install does not use the shared CA and admin certificate")
	}
	other := ensure(t, t.TempDir(), nil)
	otherShared, _ := other.Shared()
	if err := Install(dir, otherShared); err == nil {
		t.Fatal("Install replaced the CA of another cluster")
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add("sy1.abcdef." + strings.Repeat("a", 32) + ".sha256:" + strings.Repeat("ab", 32))
	f.Add("sy1....")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			return
		}
		again, err := ParseToken(tok.String())
		if err != nil || again != tok {
			t.Fatalf("re-parse of %q: %+v, %v", tok, again, err)
		}
	})
}
