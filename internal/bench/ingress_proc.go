package bench

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/PID/stat (100
// on every Linux architecture Go supports).
const clockTicks = 100

// cpuTicks sums user+system time of the processes.
func cpuTicks(pids []int) int64 {
	var sum int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		// Fields after the command name (which may contain spaces).
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		sum += u + st
	}
	return sum
}

// childPIDs lists the children of pid (nginx's workers).
func childPIDs(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// writeBenchCert writes a self-signed ECDSA certificate for the TLS
// scenario, used by both proxies.
func writeBenchCert(dir string) (certFile, keyFile string, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "bench.example.com"},
		DNSNames:     []string{"bench.example.com", "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		return "", "", err
	}
	key, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: key}), 0o600)
}

// writeNginxConf writes the reference configuration: one worker, upstream
// keep-alive, the same forwarded headers switchyard sets, no request
// limits on keep-alive connections, and everything under dir.
func writeNginxConf(dir string, backends []string, cert, key string, accessLog bool) (string, error) {
	var ups strings.Builder
	for _, b := range backends {
		fmt.Fprintf(&ups, "    server %s;\n", b)
	}
	al := "access_log off;"
	if accessLog {
		al = fmt.Sprintf("log_format json escape=json '{\"time\":\"$time_iso8601\",\"client\":\"$remote_addr\",\"method\":\"$request_method\",\"host\":\"$host\",\"path\":\"$uri\",\"status\":$status,\"bytes\":$body_bytes_sent,\"endpoint\":\"$upstream_addr\",\"duration\":$request_time}';\n  access_log %s json buffer=64k flush=1s;", filepath.Join(dir, "nginx-access.log"))
	}
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 16384; }
http {
  %[2]s
  client_body_temp_path %[1]s/tmp-body;
  proxy_temp_path %[1]s/tmp-proxy;
  fastcgi_temp_path %[1]s/tmp-fastcgi;
  uwsgi_temp_path %[1]s/tmp-uwsgi;
  scgi_temp_path %[1]s/tmp-scgi;
  keepalive_requests 10000000;
  keepalive_timeout 75s;
  upstream backends {
%[3]s    keepalive 512;
    keepalive_requests 10000000;
  }
  server {
    listen 127.0.0.1:%[4]d backlog=4096;
    listen 127.0.0.1:%[5]d ssl backlog=4096;
    ssl_certificate %[6]s;
    ssl_certificate_key %[7]s;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://backends;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Port $server_port;
    }
  }
}
`, dir, al, ups.String(), ngHTTP, ngHTTPS, cert, key)
	path := filepath.Join(dir, "nginx.conf")
	return path, os.WriteFile(path, []byte(conf), 0o600)
}

func nginxVersion() string {
	out, err := exec.Command("nginx", "-v").CombinedOutput()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: "))
}

// parseWrk reads requests/s, the 50% and 99% latencies and the error
// counts from wrk --latency output.
func parseWrk(out string) (IngressMeasure, error) {
	var m IngressMeasure
	var haveRPS bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return m, fmt.Errorf("wrk requests/s %q: %w", f[1], err)
			}
			m.RPS, haveRPS = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			ms, err := wrkDuration(f[1])
			if err != nil {
				return m, err
			}
			if f[0] == "50%" {
				m.P50 = ms
			} else {
				m.P99 = ms
			}
		case len(f) >= 2 && f[0] == "Non-2xx":
			n, _ := strconv.Atoi(f[len(f)-1])
			m.Errors += n
		case len(f) >= 2 && f[0] == "Socket" && f[1] == "errors:":
			// "Socket errors: connect 0, read 0, write 0, timeout 0"
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				if f[i] != "read" { // read errors count server closes of Connection: close
					m.Errors += n
				}
			}
		}
	}
	if !haveRPS {
		return m, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	return m, nil
}

// wrkDuration converts "812.00us", "1.23ms", "2.01s" to milliseconds.
func wrkDuration(s string) (float64, error) {
	for _, u := range []struct {
		suffix string
		ms     float64
	}{{"us", 1e-3}, {"ms", 1}, {"s", 1000}, {"m", 60000}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("wrk latency %q: %w", s, err)
			}
			return f * u.ms, nil
		}
	}
	return 0, fmt.Errorf("wrk latency %q: unknown unit", s)
}
