package main

import (
	"runtime"
	"testing"
)

func TestGCPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name        string
		live, floor int64
		want        int
	}{
		{"unknown live heap", 0, 64 * mib, 100},
		{"small live heap gets the floor", 8 * mib, 64 * mib, 800},
		{"live heap at the floor", 64 * mib, 64 * mib, 100},
		{"large live heap keeps the default", 900 * mib, 64 * mib, 100},
		{"tiny live heap is capped", 1024, 64 * mib, 5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gcPercent(tc.live, tc.floor); got != tc.want {
				t.Errorf("gcPercent(%d, %d) = %d, want %d", tc.live, tc.floor, got, tc.want)
			}
		})
	}
	if got := gcFloor(1 << 30); got != 64*mib {
		t.Errorf("gcFloor(1 GiB) = %d", got)
	}
	if got := gcFloor(64 * mib); got != 16*mib {
		t.Errorf("gcFloor(64 MiB) = %d", got)
	}
}

// TestLiveHeapReads: the runtime metric exists under this Go (it is 0
// until the first collection).
func TestLiveHeapReads(t *testing.T) {
	runtime.GC()
	if newLiveHeap().read() <= 0 {
		t.Fatal("no live heap reading")
	}
}
