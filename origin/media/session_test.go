package media_test

import (
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// sink records what a session delivers.
type sink struct {
	segs  [2]int
	parts int
	next  [2]uint64
}

func (s *sink) BeginEpoch([2]*media.Track, time.Duration, time.Time) (media.EpochStart, error) {
	return media.EpochStart{NextSeq: s.next}, nil
}

func (s *sink) Segment(c media.Segment) {
	s.segs[c.Kind]++
	s.next[c.Kind] = c.Seq + 1
}

func (s *sink) Part(media.Part) { s.parts++ }
func (s *sink) EndEpoch()       {}

var _ media.Sink = (*sink)(nil)

func testConfig() media.Config {
	return media.Config{TargetDuration: 2 * time.Second, FragmentDuration: 333 * time.Millisecond, PartTarget: 350 * time.Millisecond}
}

// When video stops, audio keeps being segmented and the audio held back
// waiting for video to pass it stays bounded.
func TestVideoStallAudioQueueBounded(t *testing.T) {
	var out sink
	sess := media.NewSession(&out, mediatest.H264AACTracks(t), false, testConfig(), mediatest.Logger(t))
	f := &mediatest.Feeder{T: t, Sess: sess, FPS: 30, GOP: 60, Audio: true}
	f.Run(121)
	before := out.segs[media.KindAudio]
	for i := 0; i < 48000*20/1024; i++ {
		ts := f.AudioTS(f.AFrame).Truncate(time.Millisecond)
		if err := sess.WriteAudio(ts, []byte{0x21, byte(i)}, time.Now()); err != nil {
			t.Fatal(err)
		}
		f.AFrame++
		if q := media.AudioQueueLen(sess); q > media.MaxAudioQueue+1 {
			t.Fatalf("audio queue grew to %d", q)
		}
	}
	if got := out.segs[media.KindAudio]; got <= before+2 {
		t.Errorf("audio segments %d -> %d during a 20 s video stall", before, got)
	}
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
}

// A write error sticks: every later write returns it, and Err reports it.
func TestSessionErrorSticks(t *testing.T) {
	var out sink
	sess := media.NewSession(&out, mediatest.H264AACTracks(t), false, testConfig(), nil)
	bad := [][]byte{{0x67, 0x00}} // an SPS too short to parse starts a reconfiguration that fails
	err := sess.WriteH264(0, 0, bad, time.Now())
	if err == nil {
		t.Fatal("bad SPS accepted")
	}
	if again := sess.WriteAudio(0, []byte{1}, time.Now()); again != err || sess.Err() != err {
		t.Errorf("later write returned %v, Err %v; want %v", again, sess.Err(), err)
	}
}
