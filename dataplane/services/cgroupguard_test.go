package services

import (
	"errors"
	"strings"
	"testing"
)

func TestSocketHookCgroup(t *testing.T) {
	const root = "/sys/fs/cgroup"
	tests := []struct {
		name, flag, netns, want string
		refused                 bool
	}{
		{"host namespace, default: the root", "", "", root, false},
		{"host namespace, explicit cgroup", root + "/pods", "", root + "/pods", false},
		{"named namespace without --cgroup", "", "node1", "", true},
		{"named namespace, --cgroup is the root", root + "/", "node1", "", true},
		{"named namespace with its own cgroup", root + "/sy-node1", "node1", root + "/sy-node1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SocketHookCgroup(tt.flag, root, tt.netns)
			if tt.refused {
				if !errors.Is(err, ErrRootCgroup) || !strings.Contains(err.Error(), "--cgroup") || !strings.Contains(err.Error(), tt.netns) {
					t.Fatalf("err = %v, want ErrRootCgroup naming --cgroup and the namespace", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
