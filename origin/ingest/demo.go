package ingest

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/bluenviron/gortmplib"
	rtmpcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
)

// demoFS holds the demo clip made by scripts/make-demo-clip.sh.
//
//go:embed demo/demo.flv
var demoFS embed.FS

// ErrDemoRunning is returned when a demo with that name already runs.
var ErrDemoRunning = errors.New("demo already running")

type demoState struct {
	mu      sync.Mutex // guards running and clip
	running map[string]bool
	clip    *demoClip
}

func (s *Server) demoClip() (*demoClip, error) {
	s.demo.mu.Lock()
	defer s.demo.mu.Unlock()
	if s.demo.clip != nil {
		return s.demo.clip, nil
	}
	b, err := demoFS.ReadFile("demo/demo.flv")
	if err != nil {
		return nil, fmt.Errorf("demo clip: %w", err)
	}
	c, err := parseDemoClip(b)
	if err != nil {
		return nil, fmt.Errorf("demo clip: %w", err)
	}
	s.demo.clip = c
	return c, nil
}

// StartDemo loops the embedded clip as the live stream name. It publishes
// over RTMP, through a loopback listener served by the same connection
// code as external publishers, with timestamps rewritten to keep
// advancing. The demo connection skips publish auth only by presenting a
// random per-run token. It returns once the loop is started; ctx or Close
// stops it, and a dropped connection is retried.
func (s *Server) StartDemo(ctx context.Context, name string) error {
	if !ValidStreamName(name) {
		return fmt.Errorf("start demo %q: %w", name, Reject(ReasonBadRequest, errors.New("invalid stream name")))
	}
	clip, err := s.demoClip()
	if err != nil {
		return err
	}
	s.demo.mu.Lock()
	if s.demo.running[name] {
		s.demo.mu.Unlock()
		return fmt.Errorf("start demo %q: %w", name, ErrDemoRunning)
	}
	if s.demo.running == nil {
		s.demo.running = map[string]bool{}
	}
	s.demo.running[name] = true
	s.demo.mu.Unlock()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.demoStopped(name)
		return fmt.Errorf("start demo %q: %w", name, err)
	}
	var tok [16]byte
	_, _ = rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		s.demoStopped(name)
		return ErrServerClosed
	}
	s.wg.Add(2)
	s.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	context.AfterFunc(s.ctx, cancel)
	context.AfterFunc(ctx, func() { _ = ln.Close() })
	go func() {
		defer s.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.goConn(ctx, nc, token) {
				return
			}
		}
	}()
	go func() {
		defer s.wg.Done()
		defer cancel()
		defer s.demoStopped(name)
		log := s.log.With("demo", name)
		for {
			err := s.publishDemo(ctx, ln.Addr().String(), name, token, clip)
			if ctx.Err() != nil {
				return
			}
			log.Warn("demo publisher stopped; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
	s.log.Info("demo stream started", "stream", name, "loop", clip.period)
	return nil
}

func (s *Server) demoStopped(name string) {
	s.demo.mu.Lock()
	delete(s.demo.running, name)
	s.demo.mu.Unlock()
}

// publishDemo publishes the clip in a loop until ctx is done or the
// connection fails.
func (s *Server) publishDemo(ctx context.Context, addr, name, token string, clip *demoClip) error {
	u, err := url.Parse("rtmp://" + addr + "/" + s.cfg.App + "#" + name + "?demo_token=" + token)
	if err != nil {
		return fmt.Errorf("demo url: %w", err)
	}
	c := &gortmplib.Client{URL: u, Publish: true}
	if err := c.Initialize(ctx); err != nil {
		return fmt.Errorf("demo connect: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, c.Close)
	defer stop()

	vt := &gortmplib.Track{Codec: &rtmpcodecs.H264{SPS: clip.sps, PPS: clip.pps}}
	at := &gortmplib.Track{Codec: &rtmpcodecs.MPEG4Audio{Config: clip.asc}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{vt, at}}
	if err := w.Initialize(); err != nil {
		return fmt.Errorf("demo tracks: %w", err)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	// The loop runs on the wall clock: frame f of loop k plays at Unix time
	// k*period + f.dts, so every packager's demo shows the same frame at
	// the same instant, and timestamp zero is a whole second. With
	// segment.timeline: locked two packagers then cut the same segments
	// (live.SegmentConfig.Timeline). Nothing is sent before its time, so
	// a frame arrives within scheduling jitter of it.
	unixZero := time.Unix(0, 0)
	now := time.Now()
	zero := now.Truncate(time.Second)
	for k := int64(now.Sub(unixZero) / clip.period); ; k++ {
		loop := unixZero.Add(time.Duration(k) * clip.period)
		for _, f := range clip.frames {
			t := loop.Add(f.dts)
			if t.Before(now) {
				continue
			}
			if wait := time.Until(t); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-timer.C:
				}
			}
			off := t.Sub(zero) - f.dts
			if f.video {
				err = w.WriteH264(vt, off+f.pts, off+f.dts, f.au)
			} else {
				err = w.WriteMPEG4Audio(at, off+f.dts, f.payload)
			}
			if err != nil {
				return fmt.Errorf("demo write: %w", err)
			}
		}
	}
}
