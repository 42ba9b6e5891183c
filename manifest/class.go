package manifest

import (
	"fmt"
	"strings"
)

// Class is the class of an object the edge carries. The proxy keys TTLs,
// request coalescing and rewriting off it.
type Class uint8

// Classes, see Classify.
const (
	ClassOther           Class = iota
	ClassHLSMultivariant       // RFC 8216bis 4.4.6
	ClassHLSMedia              // RFC 8216bis 4.4.3 - 4.4.5
	ClassDASHMPD               // ISO/IEC 23009-1 5.3.1
	ClassInit                  // init segment (EXT-X-MAP target, DASH Initialization)
	ClassSegment               // media segment
	ClassPart                  // LL-HLS partial segment (RFC 8216bis 4.4.4.9)
	numClasses                 // not a class: new ones go above it
)

// AllClasses returns every class, for those who list them (metrics
// creates a counter per class up front): a class added above numClasses
// is listed without anyone else changing.
func AllClasses() []Class {
	cs := make([]Class, numClasses)
	for i := range cs {
		cs[i] = Class(i)
	}
	return cs
}

// String returns the lower-case name used in logs and metrics labels.
func (c Class) String() string {
	switch c {
	case ClassHLSMultivariant:
		return "hls-multivariant"
	case ClassHLSMedia:
		return "hls-media"
	case ClassDASHMPD:
		return "dash-mpd"
	case ClassInit:
		return "init"
	case ClassSegment:
		return "segment"
	case ClassPart:
		return "part"
	default:
		return "other"
	}
}

// IsManifest reports whether c is a playlist or MPD, i.e. something that
// RewriteHLS or RewriteDASH applies to.
func (c Class) IsManifest() bool {
	return c == ClassHLSMultivariant || c == ClassHLSMedia || c == ClassDASHMPD
}

// Kind is the coarse class used for TTL configuration.
type Kind uint8

// Kinds, see Class.Kind.
const (
	KindOther Kind = iota
	KindManifest
	KindSegment
	KindInit
)

// String returns the name ParseKind accepts.
func (k Kind) String() string {
	switch k {
	case KindManifest:
		return "manifest"
	case KindSegment:
		return "segment"
	case KindInit:
		return "init"
	default:
		return "other"
	}
}

// Kind maps a Class to its coarse Kind: playlists and MPDs are manifests,
// segments and parts are segments (a part is a byte-for-byte piece of a
// segment and ages the same way), init segments are init.
func (c Class) Kind() Kind {
	switch c {
	case ClassHLSMultivariant, ClassHLSMedia, ClassDASHMPD:
		return KindManifest
	case ClassSegment, ClassPart:
		return KindSegment
	case ClassInit:
		return KindInit
	default:
		return KindOther
	}
}

// ParseKind parses the name of a Kind as written in configuration. Case and
// surrounding spaces are ignored; anything else wraps ErrUnknownKind.
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "manifest":
		return KindManifest, nil
	case "segment":
		return KindSegment, nil
	case "init":
		return KindInit, nil
	case "other":
		return KindOther, nil
	}
	return KindOther, fmt.Errorf("parse kind %q: %w", s, ErrUnknownKind)
}
