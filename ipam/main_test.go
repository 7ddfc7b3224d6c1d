package ipam

import (
	"os"
	"testing"

	"github.com/switchyard-net/switchyard/ipam/internal/etcdtest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	etcdtest.StopShared()
	os.Exit(code)
}
