package live

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/zencoder/go-dash/v3/mpd"

	"github.com/edgecache/edgecache/origin/media"
)

// UTCTiming scheme written into MPDs. http-iso is understood by dash.js
// and by GStreamer's dashdemux (which also reads the response's Date
// header first); "direct" is not supported by GStreamer.
const utcTimingScheme = "urn:mpeg:dash:utc:http-iso:2014"

// dashSegment is one SegmentTimeline Entry, in the representation's
// timescale.
type dashSegment struct {
	start uint64
	dur   uint64
}

// dashRepresentation is one CMAF track of one period.
type dashRepresentation struct {
	kind        media.Kind
	id          string
	codecs      string
	bandwidth   int64
	timescale   uint32
	width       int
	height      int
	frameRate   float64
	sampleRate  int
	channels    int
	initURI     string
	mediaURI    string // template containing $Number$
	startNumber uint64
	pto         uint64 // presentationTimeOffset: media time at period start
	leadIn      bool   // the period's first segments have left the window
	segments    []dashSegment
}

// dashPeriod is one publish session still in the window.
type dashPeriod struct {
	id    string
	start time.Duration // since availabilityStartTime
	reps  []dashRepresentation
}

// dashManifest is the input of a dynamic MPD.
type dashManifest struct {
	availabilityStart time.Time
	publishTime       time.Time
	minUpdatePeriod   time.Duration
	minBufferTime     time.Duration
	timeShiftBuffer   time.Duration
	presentationDelay time.Duration
	utcTimingURL      string
	periods           []dashPeriod
}

// XSDateTime formats t as xs:dateTime in UTC with milliseconds, as the
// MPD and the UTCTiming source write it.
func XSDateTime(t time.Time) string {
	return t.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z")
}

func xsDuration(d time.Duration) string {
	md := mpd.Duration(d.Truncate(time.Millisecond))
	return md.String()
}

// encode writes the MPD with go-dash: one Period per publish session (a
// republish may change the init segment, which a Representation cannot),
// SegmentTemplate with $Number$ and a SegmentTimeline, and
// presentationTimeOffset so that media time (tfdt) runs on continuously
// across periods while each period starts where the wall clock was.
func (m *dashManifest) encode() ([]byte, error) {
	doc := mpd.NewDynamicMPD(mpd.DASH_PROFILE_LIVE,
		XSDateTime(m.availabilityStart), xsDuration(m.minBufferTime),
		mpd.AttrMinimumUpdatePeriod(xsDuration(m.minUpdatePeriod)),
		mpd.AttrPublishTime(XSDateTime(m.publishTime)))
	doc.TimeShiftBufferDepth = strptr(xsDuration(m.timeShiftBuffer))
	spd := mpd.Duration(m.presentationDelay)
	doc.SuggestedPresentationDelay = &spd
	doc.UTCTiming = &mpd.DescriptorType{
		SchemeIDURI: strptr(utcTimingScheme),
		Value:       strptr(m.utcTimingURL),
	}
	for i, p := range m.periods {
		var period *mpd.Period
		if i == 0 {
			period = doc.GetCurrentPeriod()
		} else {
			period = doc.AddNewPeriod()
		}
		period.ID = p.id
		start := mpd.Duration(p.start.Truncate(time.Millisecond))
		period.Start = &start
		for j, r := range p.reps {
			if err := addRepresentation(period, strconv.Itoa(j), r); err != nil {
				return nil, fmt.Errorf("encode mpd period %s: %w", p.id, err)
			}
		}
	}
	var buf bytes.Buffer
	if err := doc.Write(&buf); err != nil {
		return nil, fmt.Errorf("encode mpd: %w", err)
	}
	return buf.Bytes(), nil
}

func addRepresentation(period *mpd.Period, asID string, r dashRepresentation) error {
	var (
		as  *mpd.AdaptationSet
		err error
	)
	if r.kind == media.KindVideo {
		as, err = period.AddNewAdaptationSetVideoWithID(asID, mimeVideoMP4, "progressive", true, 1)
	} else {
		as, err = period.AddNewAdaptationSetAudioWithID(asID, mimeAudioMP4, true, 1, "und")
	}
	if err != nil {
		return err
	}
	as.ContentType = strptr(r.kind.String())
	segs, first := r.segments, r.startNumber
	if r.leadIn {
		segs, first = leadIn(segs, r.pto, first)
	}
	startNumber := int64(first)
	timescale := int64(r.timescale)
	st := &mpd.SegmentTemplate{
		AdaptationSet:   as,
		Initialization:  strptr(r.initURI),
		Media:           strptr(r.mediaURI),
		StartNumber:     &startNumber,
		Timescale:       &timescale,
		SegmentTimeline: timeline(segs),
	}
	if r.pto > 0 {
		pto := r.pto
		st.PresentationTimeOffset = &pto
	}
	as.SegmentTemplate = st
	if r.kind == media.KindVideo {
		fr := ""
		if r.frameRate > 0 {
			fr = strconv.FormatFloat(r.frameRate, 'f', -1, 64)
		}
		_, err = as.AddNewRepresentationVideo(r.bandwidth, r.codecs, r.id, fr, int64(r.width), int64(r.height))
		return err
	}
	rep, err := as.AddNewRepresentationAudio(int64(r.sampleRate), r.bandwidth, r.codecs, r.id)
	if err != nil {
		return err
	}
	if r.channels > 0 {
		_, err = rep.AddNewAudioChannelConfiguration(mpd.AUDIO_CHANNEL_CONFIGURATION_MPEG_DASH, strconv.Itoa(r.channels))
	}
	return err
}

// leadIn makes a period's SegmentTimeline start at the period start: once
// the window has slid into the period, the segments that left it are
// folded into one leading entry, numbered startNumber-1, that runs from
// presentationTimeOffset to the first listed segment.
//
// GStreamer's dashdemux and dashdemux2 (1.22 to at least 1.26,
// gst_mpd_client_stream_seek in gstmpdclient.c) compute the repeat index
// of a seek as (ts - S.start + first S.start) / S.d: with a timeline that
// does not start at the period start, the live-edge seek and the re-seek
// after every MPD update land that far past the live edge, and playback
// stalls at 0% buffering. The leading entry ends where the window begins,
// so it lies outside timeShiftBufferDepth and no client requests it
// (ISO/IEC 23009-1 5.3.9.5.3: a segment is available only within the time
// shift buffer); dash.js and GStreamer both only place it on the timeline.
// Only a period whose own first segment has left the window gets one:
// the number before a fresh period's first is the last of the period
// before, and a track that starts a little after the period start (audio
// often does) must not borrow it.
func leadIn(segs []dashSegment, pto, startNumber uint64) ([]dashSegment, uint64) {
	if len(segs) == 0 || segs[0].start <= pto || startNumber == 0 {
		return segs, startNumber
	}
	out := make([]dashSegment, 0, len(segs)+1)
	out = append(out, dashSegment{start: pto, dur: segs[0].start - pto})
	return append(out, segs...), startNumber - 1
}

// timeline run-length encodes segments: an S carries @t only where the
// timeline does not continue from the previous Entry, and @r counts
// repeats of the same duration.
func timeline(segs []dashSegment) *mpd.SegmentTimeline {
	tl := &mpd.SegmentTimeline{}
	var last *mpd.SegmentTimelineSegment
	next := uint64(0)
	for i, s := range segs {
		contiguous := i > 0 && s.start == next
		if contiguous && last != nil && last.Duration == s.dur {
			if last.RepeatCount == nil {
				last.RepeatCount = new(int)
			}
			*last.RepeatCount++
		} else {
			e := &mpd.SegmentTimelineSegment{Duration: s.dur}
			if !contiguous {
				t := s.start
				e.StartTime = &t
			}
			tl.Segments = append(tl.Segments, e)
			last = e
		}
		next = s.start + s.dur
	}
	return tl
}

func strptr(s string) *string { return &s }
