package proxy

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// viewers counts concurrent viewers per stream: distinct sessions seen
// within two target durations. A session is the player's CMCD sid when it
// sends one (CTA-5004), else its client address and User-Agent. Sessions
// are kept as 64-bit hashes with the time last seen, so memory is bounded
// by maxSessions whatever the clients send.
type viewers struct {
	mu      sync.Mutex
	seed    maphash.Seed
	streams map[string]*viewerSet
	total   int
}

type viewerSet struct {
	window time.Duration
	seen   map[uint64]int64 // session hash -> unix nanoseconds last seen
}

// maxSessions bounds the sessions tracked across all streams; past it,
// the oldest of the stream being added to are dropped first.
const maxSessions = 1 << 18

// defaultViewerWindow is the window of a stream whose target duration is
// not known (DASH, or before its first playlist).
const defaultViewerWindow = 12 * time.Second

func newViewers() *viewers {
	return &viewers{seed: maphash.MakeSeed(), streams: map[string]*viewerSet{}}
}

// see records a request of a session on a stream. target is the stream's
// target duration, zero when unknown.
func (v *viewers) see(stream, sid string, addr netip.Addr, ua string, target time.Duration, now time.Time) {
	var h maphash.Hash
	h.SetSeed(v.seed)
	if sid != "" {
		h.WriteString("s")
		h.WriteString(sid)
	} else {
		h.WriteString("a")
		b := addr.As16()
		h.Write(b[:])
		h.WriteByte(0)
		h.WriteString(ua)
	}
	id := h.Sum64()
	window := 2 * target
	if window <= 0 {
		window = defaultViewerWindow
	}
	t := now.UnixNano()
	v.mu.Lock()
	defer v.mu.Unlock()
	set := v.streams[stream]
	if set == nil {
		set = &viewerSet{seen: map[uint64]int64{}}
		v.streams[stream] = set
	}
	set.window = window
	if _, ok := set.seen[id]; !ok {
		if v.total >= maxSessions {
			v.pruneLocked(t)
			if v.total >= maxSessions {
				return
			}
		}
		v.total++
	}
	set.seen[id] = t
}

// pruneLocked forgets the sessions outside their stream's window.
func (v *viewers) pruneLocked(now int64) {
	for name, set := range v.streams {
		for id, t := range set.seen {
			if now-t > int64(set.window) {
				delete(set.seen, id)
				v.total--
			}
		}
		if len(set.seen) == 0 {
			delete(v.streams, name)
		}
	}
}

// counts returns the viewers per stream now, forgetting the sessions that
// have left.
func (v *viewers) counts(now time.Time) map[string]int {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.pruneLocked(now.UnixNano())
	out := make(map[string]int, len(v.streams))
	for name, set := range v.streams {
		out[name] = len(set.seen)
	}
	return out
}
