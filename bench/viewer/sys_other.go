//go:build !unix

package viewer

import "time"

func processCPU() time.Duration { return 0 }

func openFileLimit() uint64 { return 0 }
