package proxy

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// connCount is the viewer connections open now against client.max_conns,
// and those refused for it, for the metrics.
type connCount struct {
	open    atomic.Int64
	refusal atomic.Uint64
	// logged is when a refusal was last logged (unix seconds): a flood
	// is logged once per connRefusalLogEvery, not once per connection.
	logged atomic.Int64
}

const connRefusalLogEvery = 10 // seconds

// admit counts a new connection in, unless limit (0: none) is reached.
// One accept loop calls it per listener; a few listeners at once may
// overshoot it by one each.
func (c *connCount) admit(limit int) bool {
	if limit > 0 && c.open.Load() >= int64(limit) {
		return false
	}
	c.open.Add(1)
	return true
}

// closed counts a connection out.
func (c *connCount) closed() { c.open.Add(-1) }

// refused counts a connection refused at the limit, and logs it at most
// once per connRefusalLogEvery.
func (c *connCount) refused(log *slog.Logger, limit int) {
	n := c.refusal.Add(1)
	now := time.Now().Unix()
	if last := c.logged.Load(); now-last >= connRefusalLogEvery && c.logged.CompareAndSwap(last, now) {
		log.Warn("viewer connection refused: client.max_conns reached", "max_conns", limit, "refused_total", n)
	}
}
