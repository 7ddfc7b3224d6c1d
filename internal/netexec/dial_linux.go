package netexec

import "syscall"

// raiseNoFile raises the soft open-files limit to the hard one (a held
// connection is a file) and returns the limit in force. Go's runtime
// does the same at start-up since Go 1.19; doing it here makes the
// figure explicit in the report and does not depend on that.
func raiseNoFile() uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return 0
	}
	if l.Cur < l.Max {
		raised := syscall.Rlimit{Cur: l.Max, Max: l.Max}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			l = raised
		}
	}
	return l.Cur
}
