package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// ServeRTSP accepts RTSP publishers (ANNOUNCE, SETUP, RECORD: RFC 2326
// 10.3, 10.4, 10.11) on ln until ctx is done or the Server is closed.
// Publishers push to rtsp://HOST:PORT/APP/NAME[?key=KEY], APP being the
// RTMP application, with the same stream keys, on_publish hook and
// republish behaviour as RTMP. RTP comes interleaved on the connection
// (TCP) or, when cfg.UDPPorts is a range, over UDP on its first pair.
// ServeRTSP closes ln before returning; it returns nil on a clean stop.
func (s *Server) ServeRTSP(ctx context.Context, ln net.Listener, cfg RTSPConfig) error {
	cfg.ApplyDefaults()
	ports, err := ParsePortRange(cfg.UDPPorts)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("rtsp: %w", err)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()

	h := &rtspHandler{s: s, ctx: ctx, log: s.log.With("proto", "rtsp"), pubs: map[*gortsplib.ServerSession]*rtspPublish{}}
	var once sync.Once
	srv := &gortsplib.Server{
		Handler:     h,
		RTSPAddress: ln.Addr().String(),
		ReadTimeout: cfg.ReadTimeout,
		// Zero: the system's default. gortsplib refuses to start when the
		// system grants less than asked.
		UDPReadBufferSize: cfg.UDPReadBuffer,
		// The command opened the listener (so -rtsp-listen :0 works and
		// errors show at start-up); gortsplib listens through this.
		Listen: func(string, string) (net.Listener, error) {
			var l net.Listener
			once.Do(func() { l = ln })
			if l == nil {
				return nil, errors.New("rtsp listener already used")
			}
			return l, nil
		},
	}
	if ports.Pairs() > 0 {
		host, _, _ := net.SplitHostPort(ln.Addr().String())
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = ""
		}
		srv.UDPRTPAddress = net.JoinHostPort(host, strconv.Itoa(ports.Min))
		srv.UDPRTCPAddress = net.JoinHostPort(host, strconv.Itoa(ports.Min+1))
	}
	if err := srv.Start(); err != nil {
		_ = ln.Close()
		return fmt.Errorf("rtsp listen: %w", err)
	}
	s.serving.Add(1)
	defer s.serving.Add(-1)
	h.log.Debug("rtsp serving", "addr", ln.Addr().String(), "udp", cfg.UDPPorts)
	waitErr := make(chan error, 1)
	go func() { waitErr <- srv.Wait() }()
	select {
	case <-ctx.Done():
		srv.Close() // ends every session; OnSessionClose releases the streams
		<-waitErr
		return nil
	case err := <-waitErr:
		srv.Close()
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("rtsp: %w", err)
	}
}

// rtspHandler answers gortsplib's server callbacks. Each session's
// callbacks come from that session's goroutine.
type rtspHandler struct {
	s   *Server
	ctx context.Context
	log *slog.Logger

	mu   sync.Mutex // guards pubs
	pubs map[*gortsplib.ServerSession]*rtspPublish
}

// rtspPublish is one announced publish.
type rtspPublish struct {
	name string
	sel  rtpSelection
	rx   *rtpReceiver
}

var (
	_ gortsplib.ServerHandlerOnAnnounce     = (*rtspHandler)(nil)
	_ gortsplib.ServerHandlerOnSetup        = (*rtspHandler)(nil)
	_ gortsplib.ServerHandlerOnRecord       = (*rtspHandler)(nil)
	_ gortsplib.ServerHandlerOnDescribe     = (*rtspHandler)(nil)
	_ gortsplib.ServerHandlerOnSessionClose = (*rtspHandler)(nil)
)

// OnDescribe refuses playing: viewers use HLS and DASH.
func (h *rtspHandler) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{StatusCode: base.StatusNotFound}, nil, errors.New("rtsp play is not supported; use /hls or /dash")
}

// OnAnnounce authorises and claims the stream and checks the codecs, so a
// refusal reaches the publisher as the ANNOUNCE response.
func (h *rtspHandler) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	remote := ctx.Conn.NetConn().RemoteAddr().String()
	log := h.log.With("remote", remote)
	req, err := parseRTSPPath(ctx.Path, ctx.Query, h.s.cfg.App)
	if err != nil {
		h.s.m.rejections.WithLabelValues(ReasonBadRequest).Inc()
		log.Warn("publish rejected", "path", ctx.Path, "err", err)
		return &base.Response{StatusCode: base.StatusBadRequest}, err
	}
	req.addr = remote
	req.tcURL = "rtsp://" + ctx.Request.URL.Host + "/" + req.app
	log = log.With("stream", req.name)
	if err := h.s.auth.Load().authorize(h.ctx, req); err != nil {
		return h.reject(log, req.name, err, base.StatusForbidden)
	}
	sel, err := selectFormats(ctx.Description)
	if err != nil {
		h.s.m.rejections.WithLabelValues(ReasonBadRequest).Inc()
		log.Warn("publish rejected", "err", err)
		return &base.Response{StatusCode: base.StatusUnsupportedMediaType}, err
	}
	st, err := h.s.streams.Claim(req.name)
	if err != nil {
		return h.reject(log, req.name, err, base.StatusServiceUnavailable)
	}
	ss := ctx.Session
	rx, err := newRTPReceiver(st, sel, log, newRateMeter(h.s.m, req.name), func(err error) {
		log.Warn("publish ended", "err", err)
		ss.Close()
	})
	if err != nil {
		st.Release()
		h.s.m.rejections.WithLabelValues(ReasonBadRequest).Inc()
		log.Warn("publish rejected", "err", err)
		return &base.Response{StatusCode: base.StatusUnsupportedMediaType}, err
	}
	h.mu.Lock()
	h.pubs[ss] = &rtspPublish{name: req.name, sel: sel, rx: rx}
	h.mu.Unlock()
	log.Info("rtsp publish announced", "formats", describeFormats(ctx.Description))
	if len(sel.skipped) > 0 {
		log.Warn("rtsp publish: formats not packaged", "skipped", strings.Join(sel.skipped, ","))
	}
	log.Debug("rtsp announce sdp", "sdp", string(ctx.Request.Body))
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *rtspHandler) reject(log *slog.Logger, name string, err error, status base.StatusCode) (*base.Response, error) {
	var re *RejectError
	if errors.As(err, &re) {
		h.s.m.rejections.WithLabelValues(re.Reason).Inc()
	}
	err = fmt.Errorf("publish %s: %w", name, err)
	log.Warn("publish rejected", "err", err)
	return &base.Response{StatusCode: status}, err
}

// OnSetup accepts the SETUP of an announced publish; gortsplib checks
// the transport against the server's (461 when UDP is off).
func (h *rtspHandler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	h.mu.Lock()
	_, ok := h.pubs[ctx.Session]
	h.mu.Unlock()
	if !ok {
		return &base.Response{StatusCode: base.StatusBadRequest}, nil, errors.New("SETUP without ANNOUNCE: only publishing is supported")
	}
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

// OnRecord starts taking RTP packets.
func (h *rtspHandler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	h.mu.Lock()
	p, ok := h.pubs[ctx.Session]
	h.mu.Unlock()
	if !ok {
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("RECORD without ANNOUNCE")
	}
	ss := ctx.Session
	ss.OnPacketRTPAny(func(medi *description.Media, forma format.Format, pkt *rtp.Packet) {
		pts, ok := ss.PacketPTS2(medi, pkt)
		p.rx.packet(forma, pkt, pts, ok)
	})
	h.log.Info("publishing", "stream", p.name, "transport", transportName(ss.SetuppedTransport()))
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSessionClose ends the publish (TEARDOWN, a dropped connection, a
// timeout, or the server closing) and releases the stream, so the next
// publish continues it behind a discontinuity.
func (h *rtspHandler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.mu.Lock()
	p, ok := h.pubs[ctx.Session]
	delete(h.pubs, ctx.Session)
	h.mu.Unlock()
	if !ok {
		return
	}
	p.rx.close()
	h.log.Info("rtsp publish ended", "stream", p.name, "err", ctx.Error)
}

// OnPacketsLost logs losses at debug (gortsplib would use the standard
// logger).
func (h *rtspHandler) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	h.log.Debug("rtp packets lost", "count", ctx.Lost)
}

// OnDecodeError logs non-fatal decode errors at debug.
func (h *rtspHandler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	h.log.Debug("rtp decode", "err", ctx.Error)
}

func transportName(t *gortsplib.Transport) string {
	if t == nil {
		return "none"
	}
	return t.String()
}

// parseRTSPPath extracts the stream from an RTSP request path (gortsplib
// gives it without the leading slash) and query: APP/NAME?key=KEY. Some
// clients repeat the query or append a control path; only APP/NAME with a
// valid name is accepted.
func parseRTSPPath(path, query, wantApp string) (publishRequest, error) {
	path = strings.Trim(path, "/")
	app, name, ok := strings.Cut(path, "/")
	if !ok || app != wantApp {
		return publishRequest{}, Reject(ReasonBadRequest, fmt.Errorf("unknown application %q: publish to rtsp://HOST:PORT/%s/NAME", app, wantApp))
	}
	if !ValidStreamName(name) {
		return publishRequest{}, Reject(ReasonBadRequest, fmt.Errorf("invalid stream name %q", name))
	}
	args, err := url.ParseQuery(query)
	if err != nil {
		return publishRequest{}, Reject(ReasonBadRequest, fmt.Errorf("query %q: %w", query, err))
	}
	return publishRequest{app: app, name: name, args: args}, nil
}
