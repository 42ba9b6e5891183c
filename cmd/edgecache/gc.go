package main

import (
	"runtime/metrics"
)

// maxGCHeadroom is the most room gcPercent gives garbage above a small
// live heap.
const maxGCHeadroom = 64 << 20

// gcPercent is the GOGC that lets garbage grow to at least floor bytes
// above the live heap before the collector runs: 100 (the default, one
// live heap of room) once the live heap is that large.
//
// Hits allocate what net/http allocates per request (a couple of KiB),
// and with a near-empty cache the live heap is a few MiB: at GOGC 100 the
// collector ran about every 2000 playlist hits, 51 times per 100k, each
// marking the whole heap. A floor of room makes that a few times per
// 100k. It costs no memory the limit does not already allow: the memory
// limit (cache budget plus a twentieth plus 32 MiB) still bounds the heap
// whatever GOGC says, so the floor only lets garbage use room that a full
// cache would take.
func gcPercent(live, floor int64) int {
	if live <= 0 || live >= floor {
		return 100
	}
	return int(min(floor*100/live, 5000))
}

// gcFloor is the room gcPercent keeps for a cache of budget bytes: 64 MiB,
// or a quarter of a smaller budget.
func gcFloor(budget int64) int64 { return min(maxGCHeadroom, budget/4) }

// liveHeap reads the heap the last collection found live.
type liveHeap struct{ s []metrics.Sample }

func newLiveHeap() *liveHeap {
	return &liveHeap{s: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
}

func (l *liveHeap) read() int64 {
	metrics.Read(l.s)
	if l.s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(l.s[0].Value.Uint64())
}
