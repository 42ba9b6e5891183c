package viewer

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgecache/edgecache/bench/stats"
)

// recorder collects every viewer's measurements. Histograms and counters
// are safe for concurrent use without locks; outcomes take mu once per
// viewer.
type recorder struct {
	ttfb    [numClasses]*stats.Histogram // seconds
	hold    [numClasses]*stats.Histogram // seconds, blocking requests only
	ttfbAll *stats.Histogram             // seconds, every non-blocking request
	dlRatio *stats.Histogram             // segment download time / duration
	age     *stats.Histogram             // seconds, playlist Age headers
	lag     *stats.Histogram             // segments behind the newest known
	latency *stats.Histogram             // seconds

	requests  atomic.Int64
	bytes     atomic.Int64
	errs      [numClasses][numErrClasses]atomic.Int64
	segments  atomic.Int64 // segments and parts downloaded
	skipped   atomic.Int64 // segments never played: fell out of the window, failed, gaps
	rebuffers atomic.Int64
	failovers atomic.Int64 // viewers moved to another of Config.Hosts
	// lostOnDeadHost: failed requests that were in flight on a host that
	// then refused connections (hostFailover).
	lostOnDeadHost atomic.Int64
	backwards      atomic.Int64 // playlist loads whose newest segment was older than one the viewer had seen
	joined         atomic.Int64
	active         atomic.Int64

	mu         sync.Mutex
	outcomes   []outcome      // guarded by mu
	renditions map[string]int // guarded by mu: rendition label -> viewers
}

// outcome is one viewer's account at the end of the run.
type outcome struct {
	started   bool
	startup   time.Duration
	rebuffers int
	played    time.Duration
	stalled   time.Duration
	ratio     float64
}

func newRecorder(viewers int) *recorder {
	r := &recorder{
		ttfbAll:    stats.NewHistogram(),
		dlRatio:    stats.NewHistogram(),
		age:        stats.NewHistogram(),
		lag:        stats.NewHistogram(),
		latency:    stats.NewHistogram(),
		outcomes:   make([]outcome, 0, viewers),
		renditions: make(map[string]int),
	}
	for c := range numClasses {
		r.ttfb[c] = stats.NewHistogram()
		r.hold[c] = stats.NewHistogram()
	}
	return r
}

func (r *recorder) recordTTFB(c Class, blocking bool, d time.Duration) {
	if blocking {
		r.hold[c].Record(d.Seconds())
		return
	}
	r.ttfb[c].Record(d.Seconds())
	r.ttfbAll.Record(d.Seconds())
}

func (r *recorder) chose(label string) {
	r.mu.Lock()
	r.renditions[label]++
	r.mu.Unlock()
}

func (r *recorder) finish(o outcome) {
	r.mu.Lock()
	r.outcomes = append(r.outcomes, o)
	r.mu.Unlock()
}
