// Package media is the packager's pure media layer: tracks built from codec
// parameters, and a Session that turns one publisher's access units into
// CMAF fragments (LL-HLS parts), segments and, optionally, MPEG-TS
// segments. It does no I/O and knows no network or HTTP: what it cuts goes
// to a Sink, which the live layer implements.
package media

import "time"

// Sink receives what a Session cuts, in order, from the session's
// goroutine. The live stream state implements it.
type Sink interface {
	// BeginEpoch starts an epoch (a run of one init segment per track) at
	// the session's first keyframe, or its first audio frame without
	// video, which carried the input timestamp base and arrived at
	// arrival. It says where media time and sequence numbers continue.
	BeginEpoch(tracks [2]*Track, base time.Duration, arrival time.Time) (EpochStart, error)
	// Segment delivers a complete segment.
	Segment(Segment)
	// Part delivers a complete fragment of the segment being built: an
	// LL-HLS part. Its bytes are inside that segment's; nothing writes
	// them again.
	Part(Part)
	// EndEpoch says the epoch ended without the publisher leaving (new
	// codec parameters); the next one begins at the next keyframe.
	EndEpoch()
}

// EpochStart is where a new epoch continues from.
type EpochStart struct {
	ID int
	// MediaStart is where the epoch's first media (input timestamp base)
	// lies on the continuous media timeline (tfdt), in seconds; PresStart
	// its presentation start, for the log.
	MediaStart, PresStart float64
	// NextSeq is each kind's next segment sequence number, NextTSSeq the
	// legacy MPEG-TS rendition's.
	NextSeq   [2]uint64
	NextTSSeq uint64
}

// Segment is a complete media segment of one track (or, with TS, of the
// muxed MPEG-TS rendition).
type Segment struct {
	Kind      Kind
	TS        bool // legacy MPEG-TS rendition
	Seq       uint64
	Epoch     int // EpochStart.ID
	Start     uint64
	Dur       uint64
	Timescale uint32
	Body      []byte
	Parts     []PartInfo
	Arrival   time.Time // arrival of the keyframe that closed it (zero: n/a)
}

// Part is a complete fragment of the segment being built.
type Part struct {
	Kind      Kind
	Seq       uint64
	Epoch     int
	Timescale uint32
	Index     int
	Info      PartInfo
	Body      []byte
}

// Config is how a Session cuts.
type Config struct {
	// TargetDuration: the first keyframe after it cuts a segment.
	TargetDuration time.Duration
	// FragmentDuration: a fragment (part) ends at the first sample
	// boundary at or after it, or earlier so as not to pass PartTarget.
	FragmentDuration time.Duration
	PartTarget       time.Duration
	// LegacyTS also cuts a muxed MPEG-TS rendition.
	LegacyTS bool
	// AudioGrid places audio, wherever its run of frames starts, on the
	// grid of whole frames from the input's timestamp zero, rather than at
	// its millisecond timestamp: two packagers that join one encoder at
	// different frames then give every frame the same media time (a locked
	// timeline). An encoder whose audio is off that grid is moved by at
	// most half a frame.
	AudioGrid bool
	// LockSettle, when positive, holds the session's start until that long
	// after its first frame arrived, and passes BeginEpoch the arrival the
	// first keyframe would have had with the least delay any frame had so
	// far: a publisher's first frames come in a burst, late by the ingest's
	// track analysis (gortmplib reads up to 2 s ahead), and a locked
	// timeline pins the input's timestamp zero from that arrival, the same
	// way on every packager.
	LockSettle time.Duration
}
