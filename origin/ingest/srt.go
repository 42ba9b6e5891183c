package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	srt "github.com/datarhei/gosrt"

	"github.com/edgecache/edgecache/origin/media"
)

// SRTConfig configures SRT ingest: publishers push MPEG-TS (H.264 or
// H.265 video, AAC or Opus audio) to
// srt://HOST:PORT?streamid=publish:APP/NAME, APP being rtmp.app.
type SRTConfig struct {
	// Listen is the SRT (UDP) listen address used by cmd/packager. Zero:
	// no SRT listener. The -srt-listen flag overrides it.
	Listen string `yaml:"listen"`
	// Passphrase, when set, is required of every publisher (SRT
	// encryption, 10 to 79 characters); an unencrypted or wrongly keyed
	// caller is refused. Zero: only unencrypted publishes are accepted.
	Passphrase string `yaml:"passphrase"`
	// Latency is the SRT receive latency (TSBPD delay). Zero means 120 ms,
	// SRT's default; a caller asking for more gets more.
	Latency time.Duration `yaml:"latency"`
	// ReadTimeout bounds the wait for the next data from a publisher, and
	// the time to find the tracks. Zero means 10 s.
	ReadTimeout time.Duration `yaml:"read_timeout"`
}

// Validate checks c; field names are as in the YAML file.
func (c SRTConfig) Validate() error {
	if c.Passphrase != "" && (len(c.Passphrase) < 10 || len(c.Passphrase) > 79) {
		return errors.New("srt.passphrase must be 10 to 79 characters")
	}
	if c.Latency < 0 || c.ReadTimeout < 0 {
		return errors.New("srt.latency and srt.read_timeout must not be negative")
	}
	return nil
}

// ListenSRT opens an SRT listener on addr (UDP) with cfg's latency. The
// caller passes it to ServeSRT.
func ListenSRT(addr string, cfg SRTConfig) (srt.Listener, error) {
	sc := srt.DefaultConfig()
	if cfg.Latency > 0 {
		sc.ReceiverLatency = cfg.Latency
		sc.PeerLatency = cfg.Latency
	}
	ln, err := srt.Listen("srt", addr, sc)
	if err != nil {
		return nil, fmt.Errorf("srt listen %s: %w", addr, err)
	}
	return ln, nil
}

// Limits on what an SRT publisher may send before its tracks are known.
const (
	// srtMaxProbe bounds the MPEG-TS read to find the tracks (mediacommon
	// keeps all of it to replay).
	srtMaxProbe = 8 << 20
	// srtMaxAwaitParams bounds the video access units dropped while
	// waiting for the first one that carries SPS and PPS.
	srtMaxAwaitParams = 1200
)

// ServeSRT accepts SRT publishers on ln until ctx is done, the listener
// fails, or the Server is closed. It closes ln before returning, and
// returns nil on a clean stop.
func (s *Server) ServeSRT(ctx context.Context, ln srt.Listener, cfg SRTConfig) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	context.AfterFunc(ctx, ln.Close)
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = 10 * time.Second
	}
	for {
		req, err := ln.Accept2()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, srt.ErrListenerClosed) {
				return nil
			}
			return fmt.Errorf("srt accept: %w", err)
		}
		// The handshake waits for the answer while auth (maybe an
		// on_publish call) runs on the request's own goroutine.
		if !s.goRun(func() { s.handleSRT(ctx, req, cfg) }) {
			req.Reject(srt.REJ_CLOSE)
			return nil
		}
	}
}

// goRun runs fn on a goroutine owned by the Server; false when closing.
func (s *Server) goRun(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Go(fn)
	return true
}

// handleSRT decides on one SRT connection request and, when it is a
// publish the packager takes, serves it.
func (s *Server) handleSRT(ctx context.Context, req srt.ConnRequest, cfg SRTConfig) {
	log := s.log.With("remote", req.RemoteAddr().String(), "proto", "srt")
	err := s.serveSRT(ctx, req, cfg, log)
	switch {
	case err == nil, ctx.Err() != nil:
		log.Debug("srt connection closed")
	case errors.Is(err, ErrPublishRejected):
		log.Warn("publish rejected", "err", err)
	default:
		log.Info("srt connection ended", "err", err)
	}
}

func (s *Server) serveSRT(ctx context.Context, req srt.ConnRequest, cfg SRTConfig, log *slog.Logger) error {
	reject := func(code srt.RejectionReason, reason string, err error) error {
		req.Reject(code)
		s.m.rejections.WithLabelValues(reason).Inc()
		return Reject(reason, err)
	}
	if req.Version() < 5 {
		// HSv4 carries no stream id, so there is no stream name.
		return reject(srt.REJ_VERSION, ReasonBadRequest, errors.New("srt handshake v4 has no stream id"))
	}
	pr, err := s.srtPublishRequest(req)
	if err != nil {
		code := srt.REJX_BAD_REQUEST
		if errors.Is(err, errNotPublish) {
			code = srt.REJX_BAD_MODE
		}
		return reject(code, ReasonBadRequest, err)
	}
	switch {
	case cfg.Passphrase == "" && req.IsEncrypted():
		return reject(srt.REJ_UNSECURE, ReasonBadRequest, errors.New("encrypted publish, but srt.passphrase is not set"))
	case cfg.Passphrase != "" && !req.IsEncrypted():
		return reject(srt.REJ_UNSECURE, ReasonWrongKey, errors.New("srt.passphrase is set: the publisher must encrypt"))
	case cfg.Passphrase != "":
		if err := req.SetPassphrase(cfg.Passphrase); err != nil {
			return reject(srt.REJ_BADSECRET, ReasonWrongKey, fmt.Errorf("srt passphrase: %w", err))
		}
	}
	if err := s.auth.Load().authorize(ctx, pr); err != nil {
		code := srt.REJX_FORBIDDEN
		var re *RejectError
		if errors.As(err, &re) {
			s.m.rejections.WithLabelValues(re.Reason).Inc()
			if re.Reason == ReasonWrongKey {
				code = srt.REJX_UNAUTHORIZED
			}
		}
		req.Reject(code)
		return fmt.Errorf("publish %s: %w", pr.name, err)
	}
	st, err := s.streams.Claim(pr.name)
	if err != nil {
		code := srt.REJX_ISE
		var re *RejectError
		if errors.As(err, &re) {
			s.m.rejections.WithLabelValues(re.Reason).Inc()
			switch re.Reason {
			case ReasonBusy:
				code = srt.REJX_CONFLICT
			case ReasonLimit:
				code = srt.REJX_OVERLOAD
			}
		}
		req.Reject(code)
		return fmt.Errorf("publish %s: %w", pr.name, err)
	}
	defer st.Release()
	conn, err := req.Accept()
	if err != nil {
		return fmt.Errorf("publish %s: srt accept: %w", pr.name, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	log = log.With("stream", pr.name)
	return s.readSRT(conn, st, pr.name, cfg.ReadTimeout, log)
}

// srtPublishRequest turns a connection request's stream id into the
// publish request that auth decides on (the same as RTMP's, so stream
// keys and on_publish work alike: key=... travels in the stream id).
func (s *Server) srtPublishRequest(req srt.ConnRequest) (publishRequest, error) {
	sid, err := parseSRTStreamID(req.StreamId())
	if err != nil {
		return publishRequest{}, err
	}
	app, name, ok := strings.Cut(sid.resource, "/")
	if !ok || app != s.cfg.App {
		return publishRequest{}, fmt.Errorf("%w: resource %q: want %s/NAME", ErrBadStreamID, sid.resource, s.cfg.App)
	}
	if !ValidStreamName(name) {
		return publishRequest{}, fmt.Errorf("%w: invalid stream name %q", ErrBadStreamID, name)
	}
	return publishRequest{
		app:   app,
		name:  name,
		args:  sid.args,
		addr:  req.RemoteAddr().String(),
		tcURL: "srt:///" + app,
	}, nil
}

// readSRT reads MPEG-TS from conn into a session of st until the
// publisher leaves or the data stops for longer than timeout.
func (s *Server) readSRT(conn srt.Conn, st Stream, name string, timeout time.Duration, log *slog.Logger) error {
	wd := newWatchdog(conn, timeout)
	defer wd.stop()
	probe := &probeLimit{r: wd, left: srtMaxProbe}
	r := &mpegts.Reader{R: mpegts.NewBufferedReader(probe)}
	if err := r.Initialize(); err != nil {
		return fmt.Errorf("publish %s: read mpeg-ts tracks: %w", name, err)
	}
	probe.left = -1 // tracks found: no limit from here on
	ts, err := newTSSession(st, r, log)
	if err != nil {
		return fmt.Errorf("publish %s: %w", name, err)
	}
	defer func() {
		if err := ts.close(); err != nil {
			log.Error("close session", "err", err)
		}
	}()
	decodeErrs := 0
	r.OnDecodeError(func(err error) {
		// Lost packets are SRT's business (ARQ within the latency); what
		// still arrives broken is logged, a few times.
		if decodeErrs++; decodeErrs <= 5 {
			log.Warn("mpeg-ts decode error", "err", err)
		}
	})
	log.Info("publishing", "tracks", ts.describe())
	rate := newRateMeter(s.m, name)
	last := wd.bytes()
	for {
		if err := r.Read(); err != nil {
			if ts.err != nil {
				return ts.err
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("publish %s: %w", name, err)
		}
		if ts.err != nil {
			return ts.err
		}
		n := wd.bytes()
		rate.add(n-last, time.Now())
		last = n
	}
}

// watchdog closes conn when a Read waits longer than timeout: gosrt's
// connections have no read deadline.
type watchdog struct {
	conn    srt.Conn
	timeout time.Duration
	timer   *time.Timer
	mu      sync.Mutex // guards n
	n       uint64
}

func newWatchdog(conn srt.Conn, timeout time.Duration) *watchdog {
	w := &watchdog{conn: conn, timeout: timeout}
	w.timer = time.AfterFunc(timeout, func() { _ = conn.Close() })
	return w
}

func (w *watchdog) Read(p []byte) (int, error) {
	w.timer.Reset(w.timeout)
	n, err := w.conn.Read(p)
	w.mu.Lock()
	w.n += uint64(n)
	w.mu.Unlock()
	return n, err
}

func (w *watchdog) bytes() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *watchdog) stop() { w.timer.Stop() }

// errProbeLimit: the tracks were not found in the first srtMaxProbe bytes.
var errProbeLimit = fmt.Errorf("no PMT with usable tracks in the first %d bytes", srtMaxProbe)

// probeLimit fails reads past left bytes while left >= 0.
type probeLimit struct {
	r    io.Reader
	left int
}

func (p *probeLimit) Read(b []byte) (int, error) {
	if p.left < 0 {
		return p.r.Read(b)
	}
	if p.left == 0 {
		return 0, errProbeLimit
	}
	if len(b) > p.left {
		b = b[:p.left]
	}
	n, err := p.r.Read(b)
	p.left -= n
	return n, err
}

// tsSession routes an MPEG-TS reader's access units to a session of a
// claimed stream. The session opens once the video parameters are known:
// MPEG-TS carries SPS and PPS in band, usually with each keyframe.
type tsSession struct {
	st      Stream
	log     *slog.Logger
	tracks  []*mpegts.Track
	vt, at  *mpegts.Track
	audio   *media.Track // built from the PMT and the first ADTS header
	sess    Session
	td      mpegts.TimeDecoder
	dropped int   // video access units before the parameters came
	err     error // the first error; it ends the publish
}

func newTSSession(st Stream, r *mpegts.Reader, log *slog.Logger) (*tsSession, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ts := &tsSession{st: st, log: log, tracks: r.Tracks()}
	for _, t := range r.Tracks() {
		switch c := t.Codec.(type) {
		case *mpegts.CodecH264, *mpegts.CodecH265:
			if ts.vt == nil {
				ts.vt = t
			}
		case *mpegts.CodecMPEG4Audio:
			if ts.at == nil {
				conf := c.Config
				at, err := media.NewAACTrack(&conf)
				if err != nil {
					return nil, err
				}
				ts.at, ts.audio = t, at
			}
		case *mpegts.CodecOpus:
			if ts.at == nil {
				ch := c.ChannelCount //nolint:staticcheck // what the PMT's Opus descriptor says; Desc keeps its raw code
				if ch <= 0 {
					ch = 2
				}
				ts.at, ts.audio = t, media.NewOpusTrack(ch)
			}
		}
	}
	if ts.vt == nil && ts.at == nil {
		return nil, fmt.Errorf("%w: none of the MPEG-TS tracks (%s) can be packaged; send H.264 or H.265 video and AAC or Opus audio", media.ErrUnsupportedCodec, describeTS(r.Tracks()))
	}
	if ts.vt == nil {
		ts.sess = st.Open([2]*media.Track{media.KindAudio: ts.audio}, false)
	}
	keep := func(err error) error {
		if err != nil && ts.err == nil {
			ts.err = err
		}
		return err
	}
	if ts.vt != nil {
		switch ts.vt.Codec.(type) {
		case *mpegts.CodecH264:
			r.OnDataH264(ts.vt, func(pts, dts int64, au [][]byte) error {
				return keep(ts.video(pts, dts, au, false))
			})
		case *mpegts.CodecH265:
			r.OnDataH265(ts.vt, func(pts, dts int64, au [][]byte) error {
				return keep(ts.video(pts, dts, au, true))
			})
		}
	}
	if ts.at != nil {
		switch c := ts.at.Codec.(type) {
		case *mpegts.CodecMPEG4Audio:
			rate := int64(c.Config.SampleRate)
			r.OnDataMPEG4Audio(ts.at, func(pts int64, aus [][]byte) error {
				base := ts.td.Decode(pts)
				for i, au := range aus {
					// ISO/IEC 14496-3: 1024 samples per AAC frame.
					at := base + int64(i)*1024*90000/rate
					if err := keep(ts.write(func(s Session) error { return s.WriteAudio(ticks90k(at), au, time.Now()) })); err != nil {
						return err
					}
				}
				return nil
			})
		case *mpegts.CodecOpus:
			r.OnDataOpus(ts.at, func(pts int64, pkts [][]byte) error {
				at := ts.td.Decode(pts)
				for _, pkt := range pkts {
					if err := keep(ts.write(func(s Session) error { return s.WriteAudio(ticks90k(at), pkt, time.Now()) })); err != nil {
						return err
					}
					at += ticksOf(pkt)
				}
				return nil
			})
		}
	}
	return ts, nil
}

// write hands an access unit to the session, or drops it while the
// session waits for the video parameters.
func (ts *tsSession) write(fn func(Session) error) error {
	if ts.sess == nil {
		return nil
	}
	return fn(ts.sess)
}

// video opens the session at the first access unit with parameter sets,
// then writes every access unit.
func (ts *tsSession) video(pts, dts int64, au [][]byte, hevc bool) error {
	p, d := ts.td.Decode(pts), ts.td.Decode(dts)
	if ts.sess == nil {
		vt, err := videoTrack(au, hevc)
		if err != nil {
			return err
		}
		if vt == nil {
			if ts.dropped++; ts.dropped > srtMaxAwaitParams {
				return fmt.Errorf("%w: no parameter sets (SPS/PPS) in the first %d video access units", media.ErrUnsupportedCodec, srtMaxAwaitParams)
			}
			return nil
		}
		if ts.dropped > 0 {
			ts.log.Debug("dropped video before the first parameter sets", "access_units", ts.dropped)
		}
		ts.sess = ts.st.Open([2]*media.Track{media.KindVideo: vt, media.KindAudio: ts.audio}, false)
	}
	if hevc {
		return ts.sess.WriteH265(ticks90k(p), ticks90k(d), au, time.Now())
	}
	return ts.sess.WriteH264(ticks90k(p), ticks90k(d), au, time.Now())
}

// videoTrack builds the video track from the parameter sets in au, or
// returns nil when au has not all of them.
func videoTrack(au [][]byte, hevc bool) (*media.Track, error) {
	var vps, sps, pps []byte
	for _, nalu := range au {
		if len(nalu) == 0 {
			continue
		}
		if hevc {
			switch h265.NALUType((nalu[0] >> 1) & 0x3f) {
			case h265.NALUType_VPS_NUT:
				vps = nalu
			case h265.NALUType_SPS_NUT:
				sps = nalu
			case h265.NALUType_PPS_NUT:
				pps = nalu
			}
			continue
		}
		switch h264.NALUType(nalu[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = nalu
		case h264.NALUTypePPS:
			pps = nalu
		}
	}
	switch {
	case hevc && vps != nil && sps != nil && pps != nil:
		return media.NewH265Track(vps, sps, pps)
	case !hevc && sps != nil && pps != nil:
		return media.NewH264Track(sps, pps)
	}
	return nil, nil
}

func (ts *tsSession) close() error {
	if ts.sess == nil {
		return nil
	}
	return ts.sess.Close()
}

func (ts *tsSession) describe() string { return describeTS(ts.tracks) }

func describeTS(tracks []*mpegts.Track) string {
	names := make([]string, 0, len(tracks))
	for _, t := range tracks {
		names = append(names, strings.TrimPrefix(fmt.Sprintf("%T", t.Codec), "*codecs."))
	}
	return strings.Join(names, ",")
}

// ticks90k turns 90 kHz MPEG-TS ticks (ISO/IEC 13818-1 2.4.3.7) into a
// duration without overflowing for long streams.
func ticks90k(t int64) time.Duration {
	return time.Duration(t/90000)*time.Second + time.Duration(t%90000)*time.Second/90000
}

// ticksOf is an Opus packet's duration in 90 kHz ticks.
func ticksOf(pkt []byte) int64 {
	return opus.PacketDuration2(pkt) * 90000 / 48000
}
