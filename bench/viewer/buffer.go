package viewer

import "time"

// Buffer models a player's forward buffer on an injected clock. It is a
// plain value with no locks and no I/O: the follower that owns it passes
// the time into every call.
//
// Media is added a segment (or part) at a time. Playback starts once
// StartAfter of them are in, then drains at wall-clock rate. When the
// buffer runs dry while the stream is live, that is a rebuffer: playback
// stalls until the next piece arrives. Running dry after End is simply the
// end of the stream. Time waiting for the first playback is startup, not
// stalling.
//
// Draining is computed lazily: each call first advances the model to now,
// so the moment a stall began is exact however rarely the owner calls in.
type Buffer struct {
	startAfter int

	state   bufState
	at      time.Time     // the model is current as of at
	level   time.Duration // media buffered ahead of the playhead
	pending int           // pieces added while waiting to start
	ended   bool          // no more media will come

	startedAt time.Time
	played    time.Duration
	stalled   time.Duration
	rebuffers int

	// For latency: the pieces not yet played through are queue[qhead:],
	// oldest first, and the playhead is headOff into queue[qhead]. lastEnd
	// is the wall-clock time of the end of the last piece played through.
	queue   []bufPiece
	qhead   int
	headOff time.Duration
	lastEnd time.Time
}

type bufPiece struct {
	dur  time.Duration
	wall time.Time // wall-clock time of its first frame; zero if unknown
}

type bufState uint8

const (
	bufWaiting bufState = iota // before the first playback
	bufPlaying
	bufStalled
	bufDone // ended and drained, or ended before it ever played
)

func (s bufState) String() string {
	return [...]string{"waiting", "playing", "stalled", "done"}[s]
}

// NewBuffer returns an empty buffer that starts playing once startAfter
// pieces (at least one) have been added.
func NewBuffer(startAfter int) *Buffer {
	return &Buffer{startAfter: max(startAfter, 1)}
}

// BufferStats is the buffer's account so far.
type BufferStats struct {
	State     string
	Started   bool
	StartedAt time.Time // zero until playback starts
	Level     time.Duration
	Played    time.Duration
	Stalled   time.Duration
	Rebuffers int
}

// RebufferRatio is stalled / (played + stalled), 0 before any playback.
func (s BufferStats) RebufferRatio() float64 {
	if s.Played+s.Stalled <= 0 {
		return 0
	}
	return float64(s.Stalled) / float64(s.Played+s.Stalled)
}

// Advance brings the model to now. Calls with a time before the last one
// change nothing (the clock is taken as monotonic).
func (b *Buffer) Advance(now time.Time) {
	if b.at.IsZero() {
		b.at = now
		return
	}
	el := now.Sub(b.at)
	if el <= 0 {
		return
	}
	b.at = now
	switch b.state {
	case bufPlaying:
		if el <= b.level { // dry exactly now is not a stall yet
			b.play(el)
			if b.ended && b.level == 0 {
				b.state = bufDone
			}
			return
		}
		drained := b.level
		b.play(drained)
		if b.ended {
			b.state = bufDone
			return
		}
		b.state = bufStalled
		b.rebuffers++
		b.stalled += el - drained
	case bufStalled:
		b.stalled += el
	}
}

// play moves the playhead d forward; d <= level.
func (b *Buffer) play(d time.Duration) {
	b.level -= d
	b.played += d
	b.headOff += d
	for b.qhead < len(b.queue) && b.headOff >= b.queue[b.qhead].dur {
		p := b.queue[b.qhead]
		b.headOff -= p.dur
		if !p.wall.IsZero() {
			b.lastEnd = p.wall.Add(p.dur)
		} else {
			b.lastEnd = time.Time{}
		}
		b.qhead++
	}
	if b.qhead == len(b.queue) {
		b.headOff = 0
		b.queue, b.qhead = b.queue[:0], 0
	} else if b.qhead > len(b.queue)/2 { // keep the backing array from creeping
		n := copy(b.queue, b.queue[b.qhead:])
		b.queue, b.qhead = b.queue[:n], 0
	}
}

// Add appends a downloaded piece of media of duration d whose first frame
// was captured at wall (zero if unknown), at time now. A stalled buffer
// resumes at once: players resume on the first data after a stall rather
// than waiting for the start threshold again.
func (b *Buffer) Add(now time.Time, d time.Duration, wall time.Time) {
	b.Advance(now)
	if b.state == bufDone || d <= 0 {
		return
	}
	b.queue = append(b.queue, bufPiece{dur: d, wall: wall})
	b.level += d
	switch b.state {
	case bufWaiting:
		b.pending++
		if b.pending >= b.startAfter {
			b.state = bufPlaying
			b.startedAt = now
		}
	case bufStalled:
		b.state = bufPlaying
	}
}

// End says no more media will come (EXT-X-ENDLIST, a static MPD). What is
// buffered still plays; running dry afterwards is not a rebuffer. A
// stalled buffer stops stalling. A buffer still waiting to start starts
// now if anything is buffered (a stream shorter than the start threshold).
func (b *Buffer) End(now time.Time) {
	b.Advance(now)
	b.ended = true
	switch b.state {
	case bufStalled:
		b.state = bufDone
	case bufWaiting:
		if b.level > 0 {
			b.state = bufPlaying
			b.startedAt = now
		} else {
			b.state = bufDone
		}
	}
}

// Done reports whether the buffer has ended and played everything.
func (b *Buffer) Done() bool { return b.state == bufDone }

// Level returns the media buffered ahead of the playhead as of the last
// call.
func (b *Buffer) Level() time.Duration { return b.level }

// Stats advances the model to now and returns its account.
func (b *Buffer) Stats(now time.Time) BufferStats {
	b.Advance(now)
	return BufferStats{
		State:     b.state.String(),
		Started:   !b.startedAt.IsZero(),
		StartedAt: b.startedAt,
		Level:     b.level,
		Played:    b.played,
		Stalled:   b.stalled,
		Rebuffers: b.rebuffers,
	}
}

// Latency advances the model to now and returns how far the playhead is
// behind the wall clock: now minus the capture time of the frame being
// shown. ok is false before playback, after the end, or when the piece
// under the playhead has no wall-clock time (no EXT-X-PROGRAM-DATE-TIME).
func (b *Buffer) Latency(now time.Time) (time.Duration, bool) {
	b.Advance(now)
	if b.state != bufPlaying && b.state != bufStalled {
		return 0, false
	}
	var head time.Time
	if b.qhead < len(b.queue) {
		p := b.queue[b.qhead]
		if p.wall.IsZero() {
			return 0, false
		}
		head = p.wall.Add(b.headOff)
	} else {
		head = b.lastEnd
	}
	if head.IsZero() {
		return 0, false
	}
	return now.Sub(head), true
}
