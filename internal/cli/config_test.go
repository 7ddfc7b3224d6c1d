package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeKubeconfig writes a kubeconfig whose only cluster is server.
func writeKubeconfig(t *testing.T, dir, name, server string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	content := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "` + server + `"}
users:
- name: u
  user: {token: secret}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
`
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	flag := writeKubeconfig(t, dir, "flag", "https://flag:6443")
	env := writeKubeconfig(t, dir, "env", "https://env:6443")
	def := writeKubeconfig(t, dir, "default", "https://default:6443")
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name, flag, env, def string
		wantHost             string
		wantErr              string
	}{
		{name: "flag wins", flag: flag, env: env, def: def, wantHost: "https://flag:6443"},
		{name: "then $KUBECONFIG", env: env, def: def, wantHost: "https://env:6443"},
		{name: "$KUBECONFIG list skips missing files", env: missing + string(filepath.ListSeparator) + env, def: def, wantHost: "https://env:6443"},
		{name: "then the default path", def: def, wantHost: "https://default:6443"},
		{name: "missing flag file", flag: missing, def: def, wantErr: "missing"},
		{name: "missing $KUBECONFIG files", env: missing, def: def, wantErr: "none of $KUBECONFIG"},
		{name: "missing default", def: missing, wantErr: "is the switchyard daemon running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadConfig(tt.flag, tt.env, tt.def)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Host != tt.wantHost {
				t.Errorf("host %q, want %q", cfg.Host, tt.wantHost)
			}
			if cfg.BearerToken != "secret" {
				t.Errorf("credentials not loaded: token %q", cfg.BearerToken)
			}
		})
	}
}

func TestLoadConfigReadsEnvironment(t *testing.T) {
	env := writeKubeconfig(t, t.TempDir(), "env", "https://env:6443")
	t.Setenv("KUBECONFIG", env)
	cfg, err := LoadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Host != "https://env:6443" {
		t.Errorf("host %q", cfg.Host)
	}
}
