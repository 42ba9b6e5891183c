package live

import (
	"fmt"
	"time"

	"github.com/edgecache/edgecache/origin/media"
)

// Open starts a publish session on an acquired stream: the media layer
// cuts what the publisher sends, and the stream publishes it.
func (st *Stream) Open(tracks [2]*media.Track, awaitAV1 bool) *media.Session {
	cfg := media.Config{
		TargetDuration:   st.cfg.Segment.TargetDuration,
		FragmentDuration: st.cfg.Segment.FragmentDuration,
		PartTarget:       st.cfg.Segment.PartTarget(),
		LegacyTS:         st.ts != nil,
		AudioGrid:        st.cfg.Segment.Locked(),
		LockSettle:       lockSettle(st.cfg.Segment.Locked()),
	}
	return media.NewSession(sink{st}, tracks, awaitAV1, cfg, st.log)
}

// lockSettle is how long a session on a locked timeline waits before it
// starts (media.Config.LockSettle): past gortmplib's 2 s track analysis,
// which holds a publisher's first frames back.
func lockSettle(locked bool) time.Duration {
	if locked {
		return 3 * time.Second
	}
	return 0
}

// sink is how a stream's session hands over what it cut.
type sink struct{ st *Stream }

var _ media.Sink = sink{}

func (s sink) BeginEpoch(tracks [2]*media.Track, base time.Duration, arrival time.Time) (media.EpochStart, error) {
	st := s.st
	st.mu.Lock()
	_, es, puts, err := st.beginEpochLocked(tracks, base, arrival)
	st.mu.Unlock()
	if err != nil {
		return es, fmt.Errorf("start %s: %w", st.name, err)
	}
	// The init segments are complete now; no playlist names them yet.
	st.files.apply(puts, nil)
	return es, nil
}

func (s sink) Segment(c media.Segment) { s.st.publish(c) }

// Part publishes a part with LL-HLS on; without it, fragments are only
// the segment's insides.
func (s sink) Part(c media.Part) {
	if s.st.cfg.HLS.LowLatency.On() {
		s.st.publishPart(c)
	}
}

func (s sink) EndEpoch() { s.st.closeEpoch() }
