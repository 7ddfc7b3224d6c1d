//go:build !linux

package podnet

import (
	"context"
	"errors"
)

// ErrNotSupported is returned on systems without Linux network namespaces.
var ErrNotSupported = errors.New("podnet: only supported on Linux")

func EnsureNode(context.Context, NodeConfig) (Node, error)    { return Node{}, ErrNotSupported }
func EnsurePod(context.Context, PodConfig) (PodResult, error) { return PodResult{}, ErrNotSupported }
func RemovePod(context.Context, string, string) error         { return ErrNotSupported }
func WiredPods(string) ([]Wired, error)                       { return nil, ErrNotSupported }
func CheckPod(context.Context, PodConfig) error               { return ErrNotSupported }
