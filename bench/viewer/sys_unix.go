//go:build unix

package viewer

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time this process has used so far.
// The simulator reports its own cost with it: it shares the machine with
// the edge it measures.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// openFileLimit is how many descriptors the process may open (the Go
// runtime has raised the soft limit to the hard one), or 0 if unknown.
func openFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return l.Cur
}
