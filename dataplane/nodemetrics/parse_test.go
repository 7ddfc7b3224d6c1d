package nodemetrics

import (
	"testing"
	"time"
)

func TestCPURate(t *testing.T) {
	tests := []struct {
		name          string
		before, after uint64
		window        time.Duration
		want          uint64
		ok            bool
	}{
		{"one core", 1_000_000, 6_000_000, 5 * time.Second, 1e9, true},
		{"half a core", 0, 500_000, time.Second, 500e6, true},
		{"idle", 42, 42, time.Second, 0, true},
		{"counter reset", 900, 100, time.Second, 0, false},
		{"no window", 0, 100, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := cpuRate(tt.before, tt.after, tt.window)
			if got != tt.want || ok != tt.ok {
				t.Errorf("cpuRate = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestKeyedValues(t *testing.T) {
	stat := []byte("anon 1\nfile 2\ninactive_anon 3\ninactive_file 4096\n")
	if v, ok := keyedValue(stat, "inactive_file"); !ok || v != 4096 {
		t.Errorf("inactive_file = %d, %v", v, ok)
	}
	if _, ok := keyedValue(stat, "inactive"); ok {
		t.Error("found a prefix of a key")
	}
	meminfo := []byte("MemTotal:       16384 kB\nMemFree:         1024 kB\nInactive(file):   512 kB\n")
	if v, ok := kbValue(meminfo, "MemFree:"); !ok || v != 1024 {
		t.Errorf("MemFree = %d, %v", v, ok)
	}
	if workingSet(100, 300) != 0 || workingSet(300, 100) != 200 {
		t.Error("workingSet must subtract inactive file pages and stop at zero")
	}
}

func FuzzKeyedValue(f *testing.F) {
	f.Add([]byte("usage_usec 123\nuser_usec 4\n"), "usage_usec")
	f.Add([]byte("Pss:  12 kB\n"), "Pss:")
	f.Add([]byte("x"), "")
	f.Fuzz(func(t *testing.T, b []byte, key string) {
		keyedValue(b, key)
		kbValue(b, key)
	})
}
