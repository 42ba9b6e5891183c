package ingest

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/edgecache/edgecache/origin/media"
)

// ErrServerClosed is returned by ServeRTMP and StartDemo after Close.
var ErrServerClosed = errors.New("packager closed")

// Server accepts RTMP publishers and runs the demo. It owns their
// connection goroutines; Close stops them all.
type Server struct {
	cfg     RTMPConfig
	log     *slog.Logger
	m       *Metrics
	streams Streams
	auth    atomic.Pointer[authorizer] // swapped by SetAuth

	ctx    context.Context // lifecycle: cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the Server starts

	mu     sync.Mutex // guards closed, and wg.Add after Close
	closed bool

	serving atomic.Int32
	demo    demoState
	pull    pullState // RTSP sources (rtsp_pull.go)
}

// New returns an ingest server that publishes into streams. It stops when
// ctx is done or Close is called.
func New(ctx context.Context, cfg RTMPConfig, auth AuthConfig, streams Streams, log *slog.Logger, m *Metrics) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, m: m, streams: streams}
	s.auth.Store(newAuthorizer(auth))
	s.ctx, s.cancel = context.WithCancel(ctx)
	return s
}

// SetAuth applies a new publish authorisation to the next publishes; a
// publisher already live keeps streaming.
func (s *Server) SetAuth(auth AuthConfig) { s.auth.Store(newAuthorizer(auth)) }

// Serving reports whether a ServeRTMP loop is accepting.
func (s *Server) Serving() bool { return s.serving.Load() > 0 }

// Close stops accepting, ends every publisher and the demo, and waits for
// all their goroutines.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// ServeRTMP accepts publishers on ln until ctx is done, the listener
// fails, or the Server is closed. It closes ln before returning. For RTMPS
// pass a tls.NewListener. It returns nil on a clean stop.
func (s *Server) ServeRTMP(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	// Closing the listener is what unblocks Accept; the cancel deferred
	// above fires it on every return path.
	context.AfterFunc(ctx, func() { _ = ln.Close() })
	s.serving.Add(1)
	defer s.serving.Add(-1)
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("rtmp accept: %w", err)
		}
		if !s.goConn(ctx, nc, "") {
			return nil
		}
	}
}

// goConn serves one connection on its own goroutine, owned by the Server.
// It reports false when the Server is closing.
func (s *Server) goConn(ctx context.Context, nc net.Conn, trustToken string) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return false
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.handleConn(ctx, nc, trustToken)
	}()
	return true
}

// handleConn runs one RTMP connection. Only publishing is supported; play
// requests are refused (viewers use HLS/DASH). A publisher presenting
// trustToken (the demo) skips publish auth.
func (s *Server) handleConn(ctx context.Context, nc net.Conn, trustToken string) {
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	log := s.log.With("remote", nc.RemoteAddr().String())
	err := s.serveConn(ctx, nc, trustToken, log)
	switch {
	case err == nil, ctx.Err() != nil:
		log.Debug("rtmp connection closed")
	case errors.Is(err, ErrPublishRejected):
		log.Warn("publish rejected", "err", err)
	default:
		log.Info("rtmp connection ended", "err", err)
	}
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn, trustToken string, log *slog.Logger) error {
	timeout := s.cfg.ReadTimeout
	_ = nc.SetDeadline(time.Now().Add(timeout))
	sc := &gortmplib.ServerConn{RW: nc}
	if err := sc.Initialize(); err != nil {
		return fmt.Errorf("rtmp handshake: %w", err)
	}
	if err := sc.AcceptConn(); err != nil {
		return fmt.Errorf("rtmp connect: %w", err)
	}
	if !sc.Publish {
		_ = sc.RejectAction()
		return fmt.Errorf("play %s: %w", sc.URL, Reject(ReasonBadRequest, errors.New("only publishing is supported")))
	}
	req, err := s.parsePublish(sc, nc)
	if err != nil {
		s.m.rejections.WithLabelValues(ReasonBadRequest).Inc()
		_ = sc.RejectAction()
		return err
	}
	trusted := trustToken != "" &&
		subtle.ConstantTimeCompare([]byte(req.args.Get("demo_token")), []byte(trustToken)) == 1
	if !trusted {
		if err := s.auth.Load().authorize(ctx, req); err != nil {
			var re *RejectError
			if errors.As(err, &re) {
				s.m.rejections.WithLabelValues(re.Reason).Inc()
			}
			_ = sc.RejectAction()
			return fmt.Errorf("publish %s: %w", req.name, err)
		}
	}
	st, err := s.streams.Claim(req.name)
	if err != nil {
		var re *RejectError
		if errors.As(err, &re) {
			s.m.rejections.WithLabelValues(re.Reason).Inc()
		}
		_ = sc.RejectAction()
		return fmt.Errorf("publish %s: %w", req.name, err)
	}
	defer st.Release()
	log = log.With("stream", req.name)

	// Reader.Initialize accepts the publish and reads up to 2 s of media to
	// find the tracks, then replays it.
	r := &gortmplib.Reader{Conn: sc}
	if err := r.Initialize(); err != nil {
		return fmt.Errorf("publish %s: read tracks: %w", req.name, err)
	}
	sess, err := sessionFor(st, r)
	if err != nil {
		return fmt.Errorf("publish %s: %w", req.name, err)
	}
	log.Info("publishing", "tracks", describeTracks(r.Tracks()))
	var readErr error
	defer func() {
		if err := sess.Close(); err != nil {
			log.Error("close session", "err", err)
		}
	}()
	rate := newRateMeter(s.m, req.name)
	last := sc.BytesReceived()
	for {
		// Reads may write (acknowledgements), so both directions get the
		// deadline.
		_ = nc.SetDeadline(time.Now().Add(timeout))
		if readErr = r.Read(); readErr != nil {
			if sess.err != nil {
				return sess.err
			}
			return fmt.Errorf("publish %s: %w", req.name, readErr)
		}
		if sess.err != nil {
			return sess.err
		}
		n := sc.BytesReceived()
		rate.add(n-last, time.Now())
		last = n
	}
}

// parsePublish extracts app, stream name and arguments from the publish
// URL, rtmp://HOST/APP/NAME?args (nginx-rtmp layout).
func (s *Server) parsePublish(sc *gortmplib.ServerConn, nc net.Conn) (publishRequest, error) {
	if sc.URL == nil {
		return publishRequest{}, Reject(ReasonBadRequest, errors.New("no stream URL"))
	}
	path := strings.Trim(sc.URL.Path, "/")
	app, name, ok := strings.Cut(path, "/")
	args := sc.URL.Query()
	// Some encoders put the query on the app (tcUrl) and some on the name.
	if i := strings.IndexByte(name, '?'); i >= 0 {
		if q, err := url.ParseQuery(name[i+1:]); err == nil {
			for k, v := range q {
				args[k] = v
			}
		}
		name = name[:i]
	}
	if !ok || app != s.cfg.App {
		return publishRequest{}, Reject(ReasonBadRequest, fmt.Errorf("unknown application %q", app))
	}
	if !ValidStreamName(name) {
		return publishRequest{}, Reject(ReasonBadRequest, fmt.Errorf("invalid stream name %q", name))
	}
	return publishRequest{
		app:      app,
		name:     name,
		args:     args,
		addr:     nc.RemoteAddr().String(),
		tcURL:    sc.URL.Scheme + "://" + sc.URL.Host + "/" + app,
		flashVer: sc.FlashVer,
	}, nil
}

// rtmpSession wraps a session with the first error its callbacks hit,
// since gortmplib callbacks cannot return one.
type rtmpSession struct {
	Session
	err error
}

// sessionFor opens a session of st for the tracks r found and routes r's
// access units to it.
func sessionFor(st Stream, r *gortmplib.Reader) (*rtmpSession, error) {
	var tracks [2]*media.Track
	var vt, at *gortmplib.Track
	av1 := false
	for _, t := range r.Tracks() {
		switch c := t.Codec.(type) {
		case *rtmpcodecs.H264:
			if vt != nil {
				continue
			}
			ti, err := media.NewH264Track(c.SPS, c.PPS)
			if err != nil {
				return nil, err
			}
			tracks[media.KindVideo], vt = ti, t
		case *rtmpcodecs.H265:
			if vt != nil {
				continue
			}
			ti, err := media.NewH265Track(c.VPS, c.SPS, c.PPS)
			if err != nil {
				return nil, err
			}
			tracks[media.KindVideo], vt = ti, t
		case *rtmpcodecs.AV1:
			if vt != nil {
				continue
			}
			av1, vt = true, t
		case *rtmpcodecs.MPEG4Audio:
			if at != nil {
				continue
			}
			ti, err := media.NewAACTrack(c.Config)
			if err != nil {
				return nil, err
			}
			tracks[media.KindAudio], at = ti, t
		case *rtmpcodecs.Opus:
			if at != nil {
				continue
			}
			ch := 2
			if c.IDHeader != nil {
				ch = int(c.IDHeader.ChannelCount)
			}
			tracks[media.KindAudio], at = media.NewOpusTrack(ch), t
		}
	}
	if vt == nil && at == nil {
		return nil, fmt.Errorf("%w: none of the tracks (%s) can be packaged", media.ErrUnsupportedCodec, describeTracks(r.Tracks()))
	}
	is := &rtmpSession{Session: st.Open(tracks, av1)}
	keep := func(err error) {
		if err != nil && is.err == nil {
			is.err = err
		}
	}
	if vt != nil {
		switch vt.Codec.(type) {
		case *rtmpcodecs.H264:
			r.OnDataH264(vt, func(pts, dts time.Duration, au [][]byte) {
				keep(is.WriteH264(pts, dts, au, time.Now()))
			})
		case *rtmpcodecs.H265:
			r.OnDataH265(vt, func(pts, dts time.Duration, au [][]byte) {
				keep(is.WriteH265(pts, dts, au, time.Now()))
			})
		case *rtmpcodecs.AV1:
			r.OnDataAV1(vt, func(pts time.Duration, tu [][]byte) {
				keep(is.WriteAV1(pts, tu, time.Now()))
			})
		}
	}
	if at != nil {
		switch at.Codec.(type) {
		case *rtmpcodecs.MPEG4Audio:
			r.OnDataMPEG4Audio(at, func(pts time.Duration, au []byte) {
				keep(is.WriteAudio(pts, au, time.Now()))
			})
		case *rtmpcodecs.Opus:
			r.OnDataOpus(at, func(pts time.Duration, pkt []byte) {
				keep(is.WriteAudio(pts, pkt, time.Now()))
			})
		}
	}
	return is, nil
}

func describeTracks(ts []*gortmplib.Track) string {
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		names = append(names, strings.TrimPrefix(fmt.Sprintf("%T", t.Codec), "*codecs."))
	}
	return strings.Join(names, ",")
}

// rateMeter feeds the ingest byte counter and a bitrate gauge averaged
// over a few seconds.
type rateMeter struct {
	m      *Metrics
	stream string
	since  time.Time
	bytes  uint64
}

func newRateMeter(m *Metrics, stream string) *rateMeter {
	return &rateMeter{m: m, stream: stream, since: time.Now()}
}

func (r *rateMeter) add(n uint64, now time.Time) {
	r.m.bytesIn.WithLabelValues(r.stream).Add(float64(n))
	r.bytes += n
	if d := now.Sub(r.since); d >= 2*time.Second {
		r.m.bitrateIn.WithLabelValues(r.stream).Set(float64(r.bytes) * 8 / d.Seconds())
		r.bytes, r.since = 0, now
	}
}
