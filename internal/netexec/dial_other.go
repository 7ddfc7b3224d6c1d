//go:build !linux

package netexec

// raiseNoFile is a no-op outside Linux; 0 means unknown.
func raiseNoFile() uint64 { return 0 }
