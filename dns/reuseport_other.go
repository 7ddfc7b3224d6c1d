//go:build !linux

package dns

import "net"

func listenConfig() net.ListenConfig { return net.ListenConfig{} }
