package ingest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrPublishRejected wraps every refused publish; errors.As with
// *RejectError gives the reason.
var ErrPublishRejected = errors.New("publish rejected")

// RejectError says why a publish was refused. Reason is also the
// publish_rejections_total label.
type RejectError struct {
	Reason string
	Err    error
}

func (e *RejectError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("publish rejected (%s): %v", e.Reason, e.Err)
	}
	return "publish rejected (" + e.Reason + ")"
}

func (e *RejectError) Unwrap() []error { return []error{ErrPublishRejected, e.Err} }

// Reject returns a *RejectError.
func Reject(reason string, err error) error { return &RejectError{Reason: reason, Err: err} }

// Rejection reasons.
const (
	ReasonUnknownStream = "unknown_stream"
	ReasonWrongKey      = "wrong_key"
	ReasonHookDenied    = "hook_denied"
	ReasonHookError     = "hook_error"
	ReasonBadRequest    = "bad_request"
	ReasonBusy          = "busy"  // the stream has a publisher
	ReasonLimit         = "limit" // too many streams publishing
)

// publishRequest is what a publisher asked for.
type publishRequest struct {
	app      string
	name     string
	args     url.Values // the stream URL's query: ?key=...
	addr     string
	tcURL    string
	flashVer string
}

// authorizer applies AuthConfig.
type authorizer struct {
	cfg    AuthConfig
	keys   map[string]string
	client *http.Client
}

func newAuthorizer(cfg AuthConfig) *authorizer {
	a := &authorizer{cfg: cfg, keys: make(map[string]string, len(cfg.Streams)), client: &http.Client{}}
	for _, k := range cfg.Streams {
		a.keys[k.Name] = k.Key
	}
	return a
}

// authorize returns nil to allow the publish, or a *RejectError.
func (a *authorizer) authorize(ctx context.Context, req publishRequest) error {
	if key, ok := a.keys[req.name]; ok {
		if key == "" || subtle.ConstantTimeCompare([]byte(key), []byte(req.args.Get("key"))) == 1 {
			return nil
		}
		return Reject(ReasonWrongKey, nil)
	}
	if a.cfg.OnPublish != "" {
		return a.hook(ctx, req)
	}
	if a.cfg.RejectUnknown {
		return Reject(ReasonUnknownStream, nil)
	}
	return nil
}

// hook calls on_publish the way nginx-rtmp does: a form POST whose 2xx
// answer allows the publish. Anything else rejects it.
func (a *authorizer) hook(ctx context.Context, req publishRequest) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.OnPublishTimeout)
	defer cancel()
	form := url.Values{}
	for k, vs := range req.args {
		form[k] = append([]string(nil), vs...)
	}
	form.Set("call", "publish")
	form.Set("app", req.app)
	form.Set("name", req.name)
	form.Set("addr", req.addr)
	form.Set("tcurl", req.tcURL)
	form.Set("flashver", req.flashVer)
	form.Set("type", "live")
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, a.cfg.OnPublish, strings.NewReader(form.Encode()))
	if err != nil {
		return Reject(ReasonHookError, err)
	}
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.client.Do(hr)
	if err != nil {
		return Reject(ReasonHookError, fmt.Errorf("on_publish: %w", err))
	}
	// Drain a bounded amount so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Reject(ReasonHookDenied, fmt.Errorf("on_publish answered %d", resp.StatusCode))
	}
	return nil
}
