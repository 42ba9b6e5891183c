package compare

import (
	"os"
	"testing"
)

// TestMachineBusySecondsCountsThisProcess: the machine-wide busy time grows
// by at least what this process itself spends between two readings.
func TestMachineBusySecondsCountsThisProcess(t *testing.T) {
	b0, c0 := machineBusySeconds(), cpuSeconds(os.Getpid())
	if b0 <= 0 {
		t.Fatal("machineBusySeconds read nothing from /proc/stat")
	}
	x := 0
	for cpuSeconds(os.Getpid())-c0 < 0.3 { // spin until the ticks show 0.3 s
		for i := range 1 << 20 {
			x ^= i
		}
	}
	spent := cpuSeconds(os.Getpid()) - c0
	if grew := machineBusySeconds() - b0; grew < spent-0.05 {
		t.Errorf("machine busy grew %.2f s while this process alone spent %.2f s (x=%d)", grew, spent, x)
	}
}
