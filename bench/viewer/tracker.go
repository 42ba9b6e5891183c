package viewer

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/edgecache/edgecache/manifest"
)

// tracker knows the newest sequence number of each rendition (by key: its
// index in document order), from the origin or from the viewers.
type tracker struct {
	fromOrigin bool // only the origin poller sets values

	mu     sync.Mutex
	newest map[int]int64 // guarded by mu
}

func newTracker(fromOrigin bool) *tracker {
	return &tracker{fromOrigin: fromOrigin, newest: make(map[int]int64)}
}

// observe takes the newest sequence number a viewer's playlist lists and
// returns the newest known for key. ok is false while the origin has not
// been heard from yet.
func (t *tracker) observe(key int, seq int64) (newest int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, ok := t.newest[key]
	if t.fromOrigin {
		return n, ok
	}
	if !ok || seq > n {
		t.newest[key] = seq
		n = seq
	}
	return n, true
}

// set records what the origin lists for key.
func (t *tracker) set(key int, seq int64) {
	t.mu.Lock()
	t.newest[key] = seq
	t.mu.Unlock()
}

// originPoller fetches the stream straight from the origin so that the
// tracker knows how far ahead the origin is. Its requests are not part of
// the measurements.
type originPoller struct {
	rs    *runState
	f     *fetcher
	close func()
	kind  streamKind
	mpd   *url.URL   // DASH
	media []*url.URL // HLS media playlists, by rendition key
	every time.Duration
}

// newOriginPoller resolves the origin's renditions once; an origin that
// cannot be read is a setup error.
func newOriginPoller(ctx context.Context, rs *runState) (*originPoller, error) {
	u, err := url.Parse(rs.cfg.OriginURL)
	if err != nil {
		return nil, fmt.Errorf("origin URL: %w", err)
	}
	tr := rs.guard.Transport(0)
	p := &originPoller{
		rs:    rs,
		f:     &fetcher{client: &http.Client{Transport: tr}, timeout: rs.cfg.RequestTimeout},
		close: tr.CloseIdleConnections,
		every: time.Second,
	}
	if err := p.resolve(ctx, u); err != nil {
		p.close()
		return nil, fmt.Errorf("origin %s: %w", u, err)
	}
	return p, nil
}

func (p *originPoller) resolve(ctx context.Context, u *url.URL) error {
	r, err := p.f.get(ctx, u, ClassPlaylist, getOpts{keep: true})
	if err != nil {
		return err
	}
	if p.kind, err = sniff(r); err != nil {
		return err
	}
	if p.kind != p.rs.kind {
		return fmt.Errorf("origin serves %s, the stream is %s: %w", p.kind, p.rs.kind, ErrUnsupported)
	}
	if p.kind == kindDASH {
		p.mpd = r.url
		doc, err := parseMPD(r.body, r.url)
		if err != nil {
			return err
		}
		p.every = doc.reloadEvery() / 2
		return nil
	}
	st, err := manifest.ParseHLS(r.body)
	if err != nil {
		return err
	}
	if !st.Multivariant {
		p.media = []*url.URL{r.url}
		p.every = st.TargetDuration / 2
		return nil
	}
	vars, err := hlsVariants(r.body, r.url)
	if err != nil {
		return err
	}
	for _, v := range vars {
		p.media = append(p.media, v.uri)
	}
	return nil
}

// run polls until ctx ends.
func (p *originPoller) run(ctx context.Context) {
	defer p.close()
	for ctx.Err() == nil {
		start := time.Now()
		p.poll(ctx)
		if sleepUntil(ctx, start.Add(max(p.every, minReload))) != nil {
			return
		}
	}
}

func (p *originPoller) poll(ctx context.Context) {
	if p.kind == kindDASH {
		r, err := p.f.get(ctx, p.mpd, ClassPlaylist, getOpts{keep: true})
		if err != nil {
			return
		}
		doc, err := parseMPD(r.body, r.url)
		if err != nil {
			return
		}
		now := time.Now()
		for key, rd := range doc.renditions {
			if seq, ok := rd.newestSeq(doc, now); ok {
				p.rs.track.set(key, seq)
			}
		}
		return
	}
	for key, u := range p.media {
		r, err := p.f.get(ctx, u, ClassPlaylist, getOpts{keep: true})
		if err != nil {
			continue
		}
		st, err := manifest.ParseHLS(r.body)
		if err != nil {
			continue
		}
		if key == 0 && st.TargetDuration > 0 {
			p.every = st.TargetDuration / 2
		}
		if last, ok := st.LastMSN(); ok {
			p.rs.track.set(key, int64(last))
		}
	}
}
