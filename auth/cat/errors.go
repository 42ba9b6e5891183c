package cat

// Error is a refusal with the reason metrics and logs count it by, and
// the HTTP status it maps to. Statuses: 401 when the request carries no
// usable credentials (missing, unparseable; RFC 9110 15.5.2), 403 when a
// well-formed token is refused (signature, claims; RFC 9110 15.5.4). The
// reference implementation answers 401 to everything; CTA-5007 leaves the
// code to the deployment.
type Error struct {
	Reason string
	Status int
}

func (e *Error) Error() string { return "cat: " + e.Reason }

// Sentinels, tested with errors.Is; a returned error wraps one of them
// with detail.
var (
	ErrMissing     = &Error{"missing", 401}
	ErrMalformed   = &Error{"malformed", 401}
	ErrUnknownKey  = &Error{"unknown_key", 403}
	ErrSignature   = &Error{"bad_signature", 403}
	ErrExpired     = &Error{"expired", 403}
	ErrNotYetValid = &Error{"not_yet_valid", 403}
	ErrIssuer      = &Error{"issuer", 403}
	ErrAudience    = &Error{"audience", 403}
	ErrVersion     = &Error{"version", 403}
	ErrURI         = &Error{"uri", 403}
	ErrMethod      = &Error{"method", 403}
	ErrIP          = &Error{"ip", 403}
	ErrReplay      = &Error{"replay", 403}
	ErrUnsupported = &Error{"unsupported_claim", 403}
)
