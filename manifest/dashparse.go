package manifest

import (
	"bytes"
	"fmt"
	"time"

	"github.com/zencoder/go-dash/v3/mpd"
)

// DASHState is what the edge needs to know about an MPD.
type DASHState struct {
	Dynamic               bool          // MPD@type="dynamic"
	MinimumUpdatePeriod   time.Duration // 0 when absent
	TimeShiftBufferDepth  time.Duration // 0 when absent
	AvailabilityStartTime time.Time     // zero when absent
	PublishTime           time.Time     // zero when absent
	Locations             []string      // MPD.Location, in order (5.4.1)
	PatchLocations        []string      // MPD.PatchLocation, in order (5.15)
	BaseURLs              []string      // every BaseURL at every level, document order
	Templates             []DASHTemplate
	Periods               int
}

// DASHTemplate is one SegmentTemplate (ISO/IEC 23009-1 5.3.9.4), with the
// ids of the elements it sits in.
type DASHTemplate struct {
	Period                 int    // index of its Period
	AdaptationSet          string // AdaptationSet@id, "" at Period level or when absent
	Representation         string // Representation@id, "" above Representation level
	Media                  string
	Initialization         string
	StartNumber            uint64 // 1 when absent (5.3.9.2, Table 16)
	Timescale              uint64 // 1 when absent
	Duration               uint64 // @duration in timescale units, 0 with a timeline
	PresentationTimeOffset uint64
	Timeline               []DASHTimelineEntry
}

// DASHTimelineEntry is one SegmentTimeline S element (5.3.9.6). T is
// resolved: when @t is absent it follows on from the previous entry.
type DASHTimelineEntry struct {
	T uint64
	D uint64
	R int // -1: repeat until the next S or the end of the Period
}

// ParseDASH reads the state of an MPD. It returns an error wrapping
// ErrMalformed when data is not a well-formed MPD.
//
// go-dash reads the MPD attributes, Periods and SegmentTemplates. It has no
// BaseURL on AdaptationSet, keeps a single Location, knows no PatchLocation
// and loses document order across levels, so those come from this
// package's own token walk (dashscan.go), which also insists on an MPD
// root: go-dash decodes any root element without complaint.
func ParseDASH(data []byte) (*DASHState, error) {
	st := &DASHState{}
	err := walkMPD(data, func(ref xmlRef) error {
		if ref.attr != "" {
			return nil
		}
		switch ref.elem {
		case "BaseURL":
			st.BaseURLs = append(st.BaseURLs, ref.value)
		case "Location":
			st.Locations = append(st.Locations, ref.value)
		case "PatchLocation":
			st.PatchLocations = append(st.PatchLocations, ref.value)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("parse dash: %w", err)
	}
	var m *mpd.MPD
	err = guard(func() (err error) {
		m, err = mpd.Read(bytes.NewReader(data))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("parse dash: go-dash: %w: %w", ErrMalformed, err)
	}
	if err := fillDASH(st, m); err != nil {
		return nil, fmt.Errorf("parse dash: %w", err)
	}
	return st, nil
}

func fillDASH(st *DASHState, m *mpd.MPD) error {
	st.Dynamic = m.Type != nil && *m.Type == "dynamic"
	var err error
	if m.MinimumUpdatePeriod != nil {
		if st.MinimumUpdatePeriod, err = parseXSDuration(*m.MinimumUpdatePeriod); err != nil {
			return fmt.Errorf("minimumUpdatePeriod: %w", err)
		}
	}
	if m.TimeShiftBufferDepth != nil {
		if st.TimeShiftBufferDepth, err = parseXSDuration(*m.TimeShiftBufferDepth); err != nil {
			return fmt.Errorf("timeShiftBufferDepth: %w", err)
		}
	}
	if m.AvailabilityStartTime != nil {
		if st.AvailabilityStartTime, err = parseXSDateTime(*m.AvailabilityStartTime); err != nil {
			return fmt.Errorf("availabilityStartTime: %w", err)
		}
	}
	if m.PublishTime != nil {
		if st.PublishTime, err = parseXSDateTime(*m.PublishTime); err != nil {
			return fmt.Errorf("publishTime: %w", err)
		}
	}
	st.Periods = len(m.Periods)
	// Period, AdaptationSet, Representation is document order: the schema
	// puts SegmentTemplate before the child AdaptationSets/Representations.
	for pi, p := range m.Periods {
		if p == nil {
			continue
		}
		if err := addTemplate(st, p.SegmentTemplate, pi, "", ""); err != nil {
			return err
		}
		for _, as := range p.AdaptationSets {
			if as == nil {
				continue
			}
			asID := deref(as.ID)
			if err := addTemplate(st, as.SegmentTemplate, pi, asID, ""); err != nil {
				return err
			}
			for _, r := range as.Representations {
				if r == nil {
					continue
				}
				if err := addTemplate(st, r.SegmentTemplate, pi, asID, deref(r.ID)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func addTemplate(st *DASHState, t *mpd.SegmentTemplate, period int, as, rep string) error {
	if t == nil {
		return nil
	}
	dt := DASHTemplate{
		Period: period, AdaptationSet: as, Representation: rep,
		Media: deref(t.Media), Initialization: deref(t.Initialization),
		StartNumber: 1, Timescale: 1,
	}
	where := fmt.Sprintf("SegmentTemplate in period %d", period)
	if t.StartNumber != nil {
		if *t.StartNumber < 0 {
			return fmt.Errorf("%s: negative startNumber: %w", where, ErrMalformed)
		}
		dt.StartNumber = uint64(*t.StartNumber)
	}
	if t.Timescale != nil {
		if *t.Timescale <= 0 {
			return fmt.Errorf("%s: timescale %d: %w", where, *t.Timescale, ErrMalformed)
		}
		dt.Timescale = uint64(*t.Timescale)
	}
	if t.Duration != nil {
		if *t.Duration < 0 {
			return fmt.Errorf("%s: negative duration: %w", where, ErrMalformed)
		}
		dt.Duration = uint64(*t.Duration)
	}
	if t.PresentationTimeOffset != nil {
		dt.PresentationTimeOffset = *t.PresentationTimeOffset
	}
	if t.SegmentTimeline != nil {
		var next uint64
		for _, s := range t.SegmentTimeline.Segments {
			if s == nil {
				continue
			}
			e := DASHTimelineEntry{T: next, D: s.Duration}
			if s.StartTime != nil {
				e.T = *s.StartTime
			}
			if s.RepeatCount != nil {
				e.R = *s.RepeatCount
				if e.R < -1 {
					return fmt.Errorf("%s: S@r=%d: %w", where, e.R, ErrMalformed)
				}
			}
			if e.R >= 0 {
				next = e.T + e.D*uint64(e.R+1)
			} else {
				next = e.T
			}
			dt.Timeline = append(dt.Timeline, e)
		}
	}
	st.Templates = append(st.Templates, dt)
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// guard runs a third-party decoder and turns a panic into ErrMalformed, so
// that a bug there cannot take the proxy down with a crafted manifest.
func guard(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panicked: %v: %w", r, ErrMalformed)
		}
	}()
	return fn()
}
