// Package ingest takes live streams in: RTMP and RTMPS publishers, publish
// authorisation (stream keys, the nginx-rtmp style on_publish hook), and
// the built-in demo, which publishes an embedded FLV clip over RTMP.
//
// A protocol turns what a publisher sends into codec parameters
// (media.Track) and timestamped access units, and hands them to a
// Session of a Stream it claimed from Streams. Those interfaces are all
// it knows of the packager, so RTSP or SRT ingest plugs in next to RTMP.
package ingest

import (
	"time"

	"github.com/edgecache/edgecache/origin/media"
)

// Streams is where publishes go: the packager's live streams.
type Streams interface {
	// Claim marks stream name as published, for one publisher at a time.
	// A refusal is a *RejectError (ReasonBusy, ReasonLimit).
	Claim(name string) (Stream, error)
}

// Stream is one claimed stream.
type Stream interface {
	// Open starts a publish session with the tracks the publisher
	// announced (either may be nil, not both); awaitAV1 marks a video track
	// whose parameters come with its first keyframe.
	Open(tracks [2]*media.Track, awaitAV1 bool) Session
	// Release ends the claim, after the session's Close.
	Release()
}

// Session takes one publisher's access units, in decode order, from one
// goroutine; timestamps are on the publisher's clock. The first error a
// write returns ends the publish.
type Session interface {
	WriteH264(pts, dts time.Duration, au [][]byte, arrival time.Time) error
	WriteH265(pts, dts time.Duration, au [][]byte, arrival time.Time) error
	WriteAV1(pts time.Duration, tu [][]byte, arrival time.Time) error
	WriteAudio(pts time.Duration, payload []byte, arrival time.Time) error
	Close() error
}

var _ Session = (*media.Session)(nil)
