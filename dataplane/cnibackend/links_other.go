//go:build !linux

package cnibackend

import (
	"context"
	"errors"
)

var errNotLinux = errors.New("cnibackend: the kernel dataplane needs Linux")

type kernelLinks struct{}

func (kernelLinks) DeleteHostVeth(context.Context, string, string) (func() error, error) {
	return nil, errNotLinux
}

func (kernelLinks) BridgeExists(context.Context, string) error { return errNotLinux }

func (kernelLinks) UseNetNS(context.Context, string, string, string, func(string) error) error {
	return errNotLinux
}
