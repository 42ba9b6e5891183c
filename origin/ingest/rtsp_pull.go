package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/pion/rtp"
)

// Source states, as SourceStatus reports them and the
// rtsp_source_up gauge counts (1 for SourcePlaying).
const (
	SourceConnecting = "connecting"
	SourcePlaying    = "playing"
	SourceRetrying   = "retrying"
)

// SourceStatus is the state of one pulled RTSP source.
type SourceStatus struct {
	Name      string
	State     string
	Transport string    // of the current or last session: "UDP" or "TCP"
	LastError string    // why the last attempt ended, "" if none did
	Since     time.Time // when State was entered
	Connects  int       // sessions that reached PLAY
}

// pullState tracks the sources' status.
type pullState struct {
	mu       sync.Mutex // guards sources and ports
	sources  map[string]*SourceStatus
	ports    PortRange
	usedPair map[int]bool // RTP ports of pairs in use by pulls
}

// RTSPSources returns the status of every pulled source.
func (s *Server) RTSPSources() []SourceStatus {
	s.pull.mu.Lock()
	defer s.pull.mu.Unlock()
	out := make([]SourceStatus, 0, len(s.pull.sources))
	for _, st := range s.pull.sources {
		out = append(out, *st)
	}
	return out
}

func (s *Server) setSource(name string, f func(*SourceStatus)) {
	s.pull.mu.Lock()
	defer s.pull.mu.Unlock()
	st := s.pull.sources[name]
	prev := st.State
	f(st)
	if st.State != prev {
		st.Since = time.Now()
	}
	up := 0.0
	if st.State == SourcePlaying {
		up = 1
	}
	if s.m.rtspSourceUp != nil {
		s.m.rtspSourceUp.WithLabelValues(name).Set(up)
	}
}

// StartRTSPPull pulls every source of cfg until ctx is done or the
// Server is closed, each on its own goroutine owned by the Server. A
// source that fails or drops is pulled again after a bounded, jittered,
// growing wait; each new session continues the stream behind a
// discontinuity, as an RTMP republish does. The server's own UDP pair
// (the first of cfg.UDPPorts) is never handed to a pull.
func (s *Server) StartRTSPPull(ctx context.Context, cfg RTSPConfig) error {
	cfg.ApplyDefaults()
	ports, err := ParsePortRange(cfg.UDPPorts)
	if err != nil {
		return fmt.Errorf("rtsp: %w", err)
	}
	s.pull.mu.Lock()
	s.pull.ports = ports
	if s.pull.sources == nil {
		s.pull.sources = map[string]*SourceStatus{}
		s.pull.usedPair = map[int]bool{}
	}
	for _, src := range cfg.Sources {
		if _, ok := s.pull.sources[src.Name]; ok {
			s.pull.mu.Unlock()
			return fmt.Errorf("rtsp source %q: already pulled", src.Name)
		}
	}
	for _, src := range cfg.Sources {
		s.pull.sources[src.Name] = &SourceStatus{Name: src.Name, State: SourceConnecting, Since: time.Now()}
	}
	s.pull.mu.Unlock()
	for _, src := range cfg.Sources {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrServerClosed
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.runSource(ctx, cfg, src)
		}()
	}
	return nil
}

// runSource pulls src again and again until ctx or the Server ends.
func (s *Server) runSource(ctx context.Context, cfg RTSPConfig, src RTSPSource) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	log := s.log.With("proto", "rtsp", "source", src.Name, "url", redactURL(src.URL))
	wait := cfg.RetryMin
	for {
		s.setSource(src.Name, func(st *SourceStatus) { st.State = SourceConnecting })
		played, err := s.pullOnce(ctx, cfg, src, log)
		if ctx.Err() != nil {
			return
		}
		if played {
			wait = cfg.RetryMin // it worked: retry promptly after a drop
		}
		msg := "source ended"
		if err != nil {
			msg = err.Error()
		}
		s.setSource(src.Name, func(st *SourceStatus) { st.State, st.LastError = SourceRetrying, msg })
		d := jitter(wait)
		log.Warn("rtsp source down, retrying", "err", err, "in", d.Round(time.Millisecond))
		wait = min(2*wait, cfg.RetryMax)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// jitter returns a duration between d/2 and d, so sources that dropped
// together (a switch restarting) do not come back in lockstep.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// pullOnce runs one client session: DESCRIBE, SETUP, PLAY, then packets
// until the source or ctx ends. played says whether PLAY was reached.
func (s *Server) pullOnce(ctx context.Context, cfg RTSPConfig, src RTSPSource, log *slog.Logger) (played bool, err error) {
	u, err := base.ParseURL(src.URL)
	if err != nil {
		return false, fmt.Errorf("url: %w", err)
	}
	c := &gortsplib.Client{
		Scheme:            u.Scheme,
		Host:              u.Host,
		ReadTimeout:       cfg.ReadTimeout,
		UDPReadBufferSize: cfg.UDPReadBuffer,
		UserAgent:         "edgecache-packager",
		// gortsplib logs these with the standard logger unless told.
		OnPacketsLost: func(n uint64) { log.Debug("rtp packets lost", "count", n) },
		OnDecodeError: func(err error) { log.Debug("rtp decode", "err", err) },
	}
	var switched atomic.Bool
	c.OnTransportSwitch = func(err error) {
		switched.Store(true)
		log.Info("rtsp source: switching to TCP", "reason", err)
	}
	switch src.Transport {
	case "tcp":
		c.Transport = transportPtr(gortsplib.TransportTCP)
	case "udp":
		c.Transport = transportPtr(gortsplib.TransportUDP)
	}
	if err := c.Start2(); err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	// Close ends the client's goroutines; it is safe after a failure.
	defer c.Close()
	// Closing the client unblocks every request below when ctx ends.
	stopClose := context.AfterFunc(ctx, c.Close)
	defer stopClose()

	desc, _, err := c.Describe(u)
	if err != nil {
		return false, fmt.Errorf("describe: %w", err)
	}
	sel, err := selectFormats(desc)
	if err != nil {
		return false, err
	}
	var pairs []int
	defer func() { s.releasePairs(pairs) }()
	for _, m := range sel.medias() {
		p, err := s.setupMedia(c, desc.BaseURL, m, src.Transport)
		if p != 0 {
			pairs = append(pairs, p)
		}
		if err != nil {
			return false, fmt.Errorf("setup: %w", err)
		}
	}
	st, err := s.streams.Claim(src.Name)
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", src.Name, err)
	}
	failed := make(chan error, 1)
	rx, err := newRTPReceiver(st, sel, log, newRateMeter(s.m, src.Name), func(err error) {
		select {
		case failed <- err:
		default:
		}
	})
	if err != nil {
		st.Release()
		return false, err
	}
	defer rx.close()
	c.OnPacketRTPAny(func(medi *description.Media, forma format.Format, pkt *rtp.Packet) {
		pts, ok := c.PacketPTS2(medi, pkt)
		rx.packet(forma, pkt, pts, ok)
	})
	if _, err := c.Play(nil); err != nil {
		return false, fmt.Errorf("play: %w", err)
	}
	tr := "TCP"
	if len(pairs) > 0 && !switched.Load() {
		tr = "UDP"
	}
	s.setSource(src.Name, func(st *SourceStatus) {
		st.State, st.Transport, st.LastError = SourcePlaying, tr, ""
		st.Connects++
	})
	log.Info("rtsp source playing", "formats", describeFormats(desc), "transport", tr)
	if len(sel.skipped) > 0 {
		log.Warn("rtsp source: formats not packaged", "skipped", strings.Join(sel.skipped, ","))
	}

	waitErr := make(chan error, 1)
	go func() { waitErr <- c.Wait() }()
	// c.Close (deferred, or ctx's AfterFunc) ends Wait; this waits for
	// the goroutine on every return path.
	defer func() { c.Close(); <-waitErr }()
	select {
	case <-ctx.Done():
		return true, nil
	case err := <-waitErr:
		waitErr <- err // for the deferred receive
		return true, err
	case err := <-failed:
		return true, err
	}
}

func transportPtr(t gortsplib.Transport) *gortsplib.Transport { return &t }

// setupMedia SETUPs m. Over UDP it takes a free RTP/RTCP pair from the
// port range, skipping pairs another process holds; it returns the RTP
// port it kept (0 for TCP).
func (s *Server) setupMedia(c *gortsplib.Client, baseURL *base.URL, m *description.Media, transport string) (int, error) {
	if transport == "tcp" || s.pull.ports.Pairs() == 0 {
		if transport == "udp" {
			return 0, errors.New("transport udp needs rtsp.udp_ports")
		}
		if transport == "auto" {
			// Without a range, auto must not let gortsplib pick random
			// UDP ports: the operator asked for none.
			c.Transport = transportPtr(gortsplib.TransportTCP)
		}
		_, err := c.Setup(baseURL, m, 0, 0)
		return 0, err
	}
	var busy []int
	defer func() { s.releasePairs(busy) }()
	for range s.pull.ports.Pairs() {
		p := s.takePair()
		if p == 0 {
			return 0, fmt.Errorf("no free pair left in the UDP port range %d-%d", s.pull.ports.Min, s.pull.ports.Max)
		}
		_, err := c.Setup(baseURL, m, p, p+1)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return p, err
		}
		busy = append(busy, p) // someone else's: keep it out of the next tries
	}
	return 0, fmt.Errorf("every pair of the UDP port range %d-%d is in use", s.pull.ports.Min, s.pull.ports.Max)
}

// takePair reserves the lowest free pair after the server's (the range's
// first), or returns 0.
func (s *Server) takePair() int {
	s.pull.mu.Lock()
	defer s.pull.mu.Unlock()
	r := s.pull.ports
	for p := r.Min + 2; p+1 <= r.Max; p += 2 {
		if !s.pull.usedPair[p] {
			s.pull.usedPair[p] = true
			return p
		}
	}
	return 0
}

func (s *Server) releasePairs(ps []int) {
	s.pull.mu.Lock()
	defer s.pull.mu.Unlock()
	for _, p := range ps {
		delete(s.pull.usedPair, p)
	}
}

// redactURL hides a source URL's password in logs.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable url)"
	}
	return u.Redacted()
}
