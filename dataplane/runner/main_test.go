package runner

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testServerEnv makes the test binary, started as a pod's command, a tiny
// server instead of running tests: "PORT:CTLDIR". While CTLDIR/down exists
// it does not listen; while CTLDIR/sick exists /healthz answers 500.
const testServerEnv = "RUNNER_TEST_SERVER"

func TestMain(m *testing.M) {
	if ShimMain() {
		return
	}
	if v, ok := os.LookupEnv(testServerEnv); ok {
		os.Exit(testServer(v))
	}
	os.Exit(m.Run())
}

func testServer(spec string) int {
	port, ctl, _ := strings.Cut(spec, ":")
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(ctl, name))
		return err == nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if exists("sick") {
			w.WriteHeader(http.StatusInternalServerError)
		}
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	for ctx.Err() == nil {
		if exists("down") {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		l, err := net.Listen("tcp", ":"+port)
		if err != nil {
			return 1
		}
		srv := &http.Server{Handler: mux}
		go func() {
			for ctx.Err() == nil && !exists("down") {
				time.Sleep(50 * time.Millisecond)
			}
			srv.Close()
		}()
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			return 1
		}
	}
	return 0
}
