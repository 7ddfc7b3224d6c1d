package store

import (
	"syscall"
	"testing"
	"time"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestDebugIdle(t *testing.T) {
	s := openTest(t, "")
	_ = s
	time.Sleep(time.Second)
	c := cpu()
	time.Sleep(5 * time.Second)
	t.Log("idle cpu per second", (cpu()-c)/5)
}
