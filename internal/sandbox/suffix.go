package sandbox

import (
	"crypto/rand"
	"encoding/hex"
)

// UniqueSuffix returns 6 random hex characters, for names that must not
// collide with those of a parallel or earlier run.
func UniqueSuffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
