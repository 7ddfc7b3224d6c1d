package join

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-net/switchyard/controlplane/pki"
)

// ErrRefused wraps a control plane's refusal (a bad or expired token, an
// invalid request): trying another control plane would not help.
var ErrRefused = errors.New("join refused")

// maxResponseBytes bounds what the joiner reads from a control plane.
const maxResponseBytes = 1 << 20

// Join asks the control planes at urls, in order until one answers, to
// let this node join with tok. It changes nothing locally: the caller
// writes files from the Response. A CA that does not match the token, or a
// refusal, ends the attempt at once with an error naming the cause.
func Join(ctx context.Context, urls []string, tok pki.Token, req Request) (*Response, error) {
	if len(urls) == 0 {
		return nil, errors.New("join: no control plane URL")
	}
	var errs []error
	for _, u := range urls {
		resp, err := joinOne(ctx, strings.TrimRight(u, "/"), tok, req)
		if err == nil {
			return resp, nil
		}
		if errors.Is(err, ErrRefused) || errors.Is(err, pki.ErrCAMismatch) {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("join: no control plane answered: %w", errors.Join(errs...))
}

func joinOne(ctx context.Context, base string, tok pki.Token, req Request) (*Response, error) {
	if u, err := url.Parse(base); err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("join URL %q: want https://HOST:PORT", base)
	}
	ca, err := fetchCA(ctx, base, tok)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, base+JoinPath, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Authorization", "Bearer "+tok.Credential())
	hr.Header.Set("Content-Type", "application/json")
	data, code, err := do(httpClient(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}), hr)
	if err != nil {
		return nil, fmt.Errorf("join %s: %w", base, err)
	}
	if code != http.StatusOK {
		err := fmt.Errorf("%s answered %d: %s", base, code, statusMessage(data))
		if code == http.StatusUnauthorized || code == http.StatusConflict || code == http.StatusUnprocessableEntity || code == http.StatusBadRequest {
			return nil, fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return nil, err
	}
	var resp Response
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("join %s: answer: %w", base, err)
	}
	return &resp, nil
}

// fetchCA gets the CA over an unverified connection and accepts it only
// if it matches the token's hash.
func fetchCA(ctx context.Context, base string, tok pki.Token) (*x509.Certificate, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, base+CAPath, nil)
	if err != nil {
		return nil, err
	}
	// Unverified on purpose: the pinned hash is what authenticates the CA.
	data, code, err := do(httpClient(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}), hr)
	if err != nil {
		return nil, fmt.Errorf("fetch cluster CA from %s: %w", base, err)
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("fetch cluster CA from %s: %d: %s", base, code, statusMessage(data))
	}
	ca, err := tok.VerifyCA(data)
	if err != nil {
		return nil, fmt.Errorf("cluster CA of %s: %w", base, err)
	}
	return ca, nil
}

func httpClient(tc *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tc, TLSHandshakeTimeout: 10 * time.Second, DisableKeepAlives: true},
	}
}

func do(c *http.Client, hr *http.Request) ([]byte, int, error) {
	resp, err := c.Do(hr)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	return data, resp.StatusCode, err
}

// statusMessage is a Status's message, or the body itself.
func statusMessage(data []byte) string {
	var st metav1.Status
	if json.Unmarshal(data, &st) == nil && st.Message != "" {
		return st.Message
	}
	return strings.TrimSpace(string(data))
}
