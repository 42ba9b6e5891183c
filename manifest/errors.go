package manifest

import "errors"

// ErrMalformed is wrapped by every error that reports input which is not a
// well-formed playlist or MPD: missing #EXTM3U, an unterminated quoted
// string, XML that does not parse, a tag value that is not a number.
var ErrMalformed = errors.New("manifest: malformed")

// ErrBadMapping is wrapped when a Mapper returns an edge URL that cannot be
// spliced into a manifest safely: not root-relative ("/..."), or holding
// characters (quotes, whitespace, control characters) that would change the
// structure of the line or element it lands in.
var ErrBadMapping = errors.New("manifest: mapper returned an unusable edge URL")

// ErrUnknownKind is wrapped by ParseKind for a name it does not know.
var ErrUnknownKind = errors.New("manifest: unknown kind")

// Sanity-gate rejections reported by Compare (RFC 8216bis 6.2.1, 6.2.2).
var (
	// ErrSequenceBackwards: EXT-X-MEDIA-SEQUENCE, or the newest segment or
	// part, went backwards without the signs of a stream restart.
	ErrSequenceBackwards = errors.New("manifest: media sequence went backwards")
	// ErrDiscontinuityBackwards: EXT-X-DISCONTINUITY-SEQUENCE went backwards,
	// or a segment still in the window now counts fewer discontinuities.
	ErrDiscontinuityBackwards = errors.New("manifest: discontinuity sequence went backwards")
	// ErrDiscontinuityChanged: a segment still in the window gained a
	// discontinuity that it did not have before.
	ErrDiscontinuityChanged = errors.New("manifest: discontinuity of a published segment changed")
	// ErrTargetDurationChanged: EXT-X-TARGETDURATION changed (4.4.3.1 says it
	// MUST NOT).
	ErrTargetDurationChanged = errors.New("manifest: target duration changed")
	// ErrURIChanged: one media sequence number now names another URI (or
	// another byte range of the same URI).
	ErrURIChanged = errors.New("manifest: media sequence number names a different URI")
)
