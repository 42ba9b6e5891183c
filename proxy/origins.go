package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgecache/edgecache/manifest"
	"github.com/edgecache/edgecache/upstream"
)

// Routes with `origins:` (Route.Origins) fill from a set of origins
// (package upstream): redundant packagers, or the replicas of a shield
// tier. A fill tries the members in the set's order and moves on while no
// byte has gone to a viewer; with origins_freshest a playlist refresh asks
// every healthy member and takes the freshest; segments go first to the
// member whose playlist listed them. What the sanity gate does with the
// chosen playlist (never serve one behind the last, manifests.go) does not
// depend on which member sent it.

// originSets owns the routes' origin sets across reloads: a route whose
// origins are configured as before keeps its set and the health it has
// learned; a set no view uses any more is closed (its active check
// stopped).
type originSets struct {
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	mu     sync.Mutex
	sets   map[string]*upstream.Set // guarded by mu, by fingerprint
	listed map[string]listedBy      // guarded by mu: segment directory -> member whose playlist listed it
}

type listedBy struct {
	set *upstream.Set
	o   *upstream.Origin
}

// maxListed bounds the listed map; past it the map starts over (it only
// saves a request to the wrong member).
const maxListed = 4096

func newOriginSets(log *slog.Logger) *originSets {
	ctx, cancel := context.WithCancel(context.Background())
	return &originSets{ctx: ctx, cancel: cancel, log: log, sets: map[string]*upstream.Set{}, listed: map[string]listedBy{}}
}

func originsFingerprint(r Route) string {
	return fmt.Sprintf("%s\x00%s\x00%v\x00%q\x00%+v", r.Prefix, r.Name, r.Origins, r.OriginsMode, r.OriginsHealth)
}

// get returns the running set for r, building and starting it if new.
func (s *originSets) get(r Route) (*upstream.Set, error) {
	fp := originsFingerprint(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.sets[fp]; set != nil {
		return set, nil
	}
	cfg := r.upstreamConfig()
	cfg.Logger = s.log
	set, err := upstream.New(cfg)
	if err != nil {
		return nil, err
	}
	set.Start(s.ctx)
	s.sets[fp] = set
	return set, nil
}

// retain closes every set the routes do not use.
func (s *originSets) retain(routes []*route) {
	keep := map[*upstream.Set]bool{}
	for _, rt := range routes {
		if rt.set != nil {
			keep[rt.set] = true
		}
	}
	s.mu.Lock()
	var drop []*upstream.Set
	for fp, set := range s.sets {
		if !keep[set] {
			drop = append(drop, set)
			delete(s.sets, fp)
		}
	}
	clear(s.listed)
	s.mu.Unlock()
	for _, set := range drop {
		set.Close()
	}
}

// all lists the running sets, for the metrics collector.
func (s *originSets) all() []*upstream.Set {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*upstream.Set, 0, len(s.sets))
	for _, set := range s.sets {
		out = append(out, set)
	}
	return out
}

func (s *originSets) close() {
	s.cancel()
	s.mu.Lock()
	sets := s.sets
	s.sets = map[string]*upstream.Set{}
	s.mu.Unlock()
	for _, set := range sets {
		set.Close()
	}
}

// noteListed remembers, for each directory of the media a playlist lists,
// the member that sent the playlist: its segments are fetched there first
// (redundant packagers need not name segments alike).
func (p *Proxy) noteListed(fr *fetchReq, st *manifest.HLSState) {
	if fr.from == nil || fr.rt.set == nil || st == nil || st.Multivariant {
		return
	}
	maps, segs, parts := listedRefs(st)
	dirs := map[string]bool{}
	for _, k := range p.keysFor(fr, append(append(maps, segs...), parts...)) {
		k, _, _ = strings.Cut(k, "?")
		dirs[path.Dir(k)] = true
	}
	s := p.origins
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listed)+len(dirs) > maxListed {
		clear(s.listed)
	}
	for d := range dirs {
		s.listed[d] = listedBy{fr.rt.set, fr.from}
	}
}

func (p *Proxy) listedOrigin(set *upstream.Set, escapedPath string) *upstream.Origin {
	s := p.origins
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.listed[path.Dir(escapedPath)]; ok && l.set == set {
		return l.o
	}
	return nil
}

// order is the members to try for fr: the set's order for the request's
// cache key, with the member whose playlist listed the object first while
// it is healthy.
func (p *Proxy) order(fr *fetchReq) []*upstream.Origin {
	set := fr.rt.set
	order := set.Order(fr.base)
	if o := p.listedOrigin(set, fr.edgePath); o != nil && set.Healthy(o) {
		for i, x := range order {
			if x == o {
				copy(order[1:i+1], order[:i])
				order[0] = o
				break
			}
		}
	}
	return order
}

// memberRequest is req sent to member o instead of the route's first
// origin.
func memberRequest(rt *route, req *http.Request, o *upstream.Origin) *http.Request {
	if o.URL == rt.origin {
		return req
	}
	r := req.Clone(req.Context())
	r.URL = rebase(rt, r.URL, o)
	return r
}

// rebase moves u, a URL under the route's first origin, to member o.
func rebase(rt *route, u *url.URL, o *upstream.Origin) *url.URL {
	v := *u
	base := strings.TrimSuffix(rt.origin.EscapedPath(), "/")
	rest := strings.TrimPrefix(u.EscapedPath(), base)
	v.Scheme, v.Host = o.URL.Scheme, o.URL.Host
	np := strings.TrimSuffix(o.URL.EscapedPath(), "/") + rest
	if pu, err := url.Parse(np); err == nil {
		v.Path, v.RawPath = pu.Path, pu.RawPath
	}
	return &v
}

// memberTransport sends a request passed through uncached (another
// method, a response for one viewer alone) to the route's members in
// order for its path, healthy ones first, reporting each outcome to the
// set as fills do. It moves to the next member only while that is safe:
// for any request when the connection was refused (nothing was sent),
// and for an idempotent request (RFC 9110 9.2.2) whose body can be sent
// again, also on another error or a 5xx before any byte went to the
// viewer. A body read whole at the door (body.go) comes with GetBody;
// a streamed one (client.stream_bodies) of up to replayBodyMax bytes is
// read first so that it can be sent again, and a larger or unknown-length
// one is sent once. The
// request's URL is under the route's first origin.
type memberTransport struct {
	rt   *route
	base http.RoundTripper
	// idle is origin.idle_timeout, read per request (reloadable): each
	// try is ended when its origin goes quiet that long (passidle.go).
	idle func() time.Duration
}

// replayBodyMax is the largest request body memberTransport keeps to
// send again on another member.
const replayBodyMax = 64 << 10

// viewerFault returns a round trip's outcome, unless the viewer's body
// failed during it: then that failure (bodyError), and any response is
// dropped, since it answers a request the origin did not get whole.
func viewerFault(vb *viewerBody, resp *http.Response, err error) (*http.Response, error) {
	if vb == nil {
		return resp, err
	}
	if berr := vb.failed(); berr != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, berr
	}
	return resp, err
}

func (m memberTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	vb := viewerBodyOf(req)
	set := m.rt.set
	idle := m.idle()
	if set == nil {
		resp, err := idleRoundTrip(m.base, req, idle, nil)
		return viewerFault(vb, resp, err)
	}
	order := set.Order(req.URL.EscapedPath())
	if len(order) > 1 && req.Body != nil && req.Body != http.NoBody && req.GetBody == nil &&
		req.ContentLength > 0 && req.ContentLength <= replayBodyMax {
		b, err := io.ReadAll(io.LimitReader(req.Body, replayBodyMax+1))
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	replay := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	idempotent := replay && (req.Method == http.MethodGet || req.Method == http.MethodHead ||
		req.Method == http.MethodOptions ||
		req.Method == http.MethodPut || req.Method == http.MethodDelete)
	var err error
	for i, o := range order {
		last := i == len(order)-1
		r := memberRequest(m.rt, req, o)
		if i > 0 && req.GetBody != nil {
			if r == req {
				r = req.Clone(req.Context())
			}
			if r.Body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
		var resp *http.Response
		resp, err = idleRoundTrip(m.base, r, idle, func(err error) {
			// After the head (reported a success below): the body broke
			// off or went quiet.
			out := upstream.BodyError
			if errors.Is(err, errIdleTimeout) {
				out = upstream.Timeout
			}
			set.Report(o, out)
		})
		if vb != nil && vb.failed() != nil {
			// The viewer's body could not be read whole (sent badly, too
			// long, stalled, cut off): no verdict on the member.
			return viewerFault(vb, resp, err)
		}
		if req.Context().Err() != nil {
			// The viewer left: no verdict on the member.
			if resp != nil {
				resp.Body.Close()
			}
			return nil, err
		}
		if err != nil {
			out := upstream.Classify(err, 0)
			if errors.Is(err, errIdleTimeout) {
				out = upstream.Timeout // it stopped reading the body
			}
			set.Report(o, out)
			if last || !(idempotent || out == upstream.ConnectError && replay) {
				return nil, err
			}
			continue
		}
		out := upstream.Classify(nil, resp.StatusCode)
		set.Report(o, out)
		if out == upstream.Success || last || !idempotent {
			return resp, nil
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
	}
	if err == nil {
		err = fmt.Errorf("origin %s: no origins", m.rt.origin.Redacted())
	}
	return nil, err
}

// roundTrip sends req to the route's origin. With origins it tries the
// members in order: one that refuses the connection, gives no head in
// time or answers 5xx is reported to the set and the next is tried. That
// is safe because nothing has gone to a viewer yet: the fill writes its
// head only after this returns. A 404 for media also moves on (another
// packager may name segments this one lacks) without counting against
// the member's health. When every member failed, the last answer (or
// error) is returned. from is the member that answered.
func (p *Proxy) roundTrip(tr http.RoundTripper, fr *fetchReq, req *http.Request) (resp *http.Response, from *upstream.Origin, err error) {
	set := fr.rt.set
	if set == nil {
		resp, err = tr.RoundTrip(req)
		return resp, nil, err
	}
	order := p.order(fr)
	if fr.rt.OriginsFreshest && fr.hold == 0 && len(order) > 1 &&
		manifest.Classify("", fr.path, nil).Kind() == manifest.KindManifest {
		if resp, from := p.freshest(tr, fr, req, order); resp != nil {
			return resp, from, nil
		}
	}
	media := manifest.Classify("", fr.path, nil).Kind() != manifest.KindManifest
	for i, o := range order {
		last := i == len(order)-1
		r, rerr := tr.RoundTrip(memberRequest(fr.rt, req, o))
		if req.Context().Err() != nil {
			// The fill itself ended: no verdict on the member.
			if r != nil {
				r.Body.Close()
			}
			return nil, o, rerr
		}
		if rerr != nil {
			set.Report(o, upstream.Classify(rerr, 0))
			p.metrics.OriginRequest(fr.rt.Name, fr.kind.String(), "error")
			if last {
				return nil, o, rerr
			}
			continue
		}
		out := upstream.Classify(nil, r.StatusCode)
		set.Report(o, out)
		retry := out != upstream.Success || (media && r.StatusCode == http.StatusNotFound)
		if !retry || last {
			return r, o, nil
		}
		p.metrics.OriginRequest(fr.rt.Name, fr.kind.String(), codeClass(r.StatusCode))
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
		r.Body.Close()
	}
	return nil, nil, fmt.Errorf("origin %s: no origins", fr.upstream)
}

// freshest asks every healthy member for the playlist at once and returns
// the freshest answer (manifest.FresherHLS; FresherDASH for MPDs), ties
// going to the earlier member in order. Whether the winner may follow
// what viewers were already served is the sanity gate's call, as for any
// refresh. It returns nil when fewer than two members are healthy or none
// answered 200: the caller then tries them in order.
func (p *Proxy) freshest(tr http.RoundTripper, fr *fetchReq, req *http.Request, order []*upstream.Origin) (*http.Response, *upstream.Origin) {
	set := fr.rt.set
	var healthy []*upstream.Origin
	for _, o := range order {
		if set.Healthy(o) {
			healthy = append(healthy, o)
		}
	}
	if len(healthy) < 2 {
		return nil, nil
	}
	type cand struct {
		resp *http.Response
		body []byte
		hls  *manifest.HLSState
		dash *manifest.DASHState
	}
	cands := make([]cand, len(healthy))
	var wg sync.WaitGroup
	for i, o := range healthy {
		wg.Go(func() {
			r, err := tr.RoundTrip(memberRequest(fr.rt, req, o))
			if req.Context().Err() != nil {
				if r != nil {
					r.Body.Close()
				}
				return
			}
			if err != nil {
				set.Report(o, upstream.Classify(err, 0))
				p.metrics.OriginRequest(fr.rt.Name, fr.kind.String(), "error")
				return
			}
			defer r.Body.Close()
			set.Report(o, upstream.Classify(nil, r.StatusCode))
			if r.StatusCode != http.StatusOK {
				p.metrics.OriginRequest(fr.rt.Name, fr.kind.String(), codeClass(r.StatusCode))
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, maxManifestBytes+1))
			if err != nil || len(body) > maxManifestBytes {
				set.Report(o, upstream.BodyError)
				return
			}
			c := cand{resp: r, body: body}
			switch manifest.Classify(r.Header.Get("Content-Type"), fr.path, body) {
			case manifest.ClassHLSMedia:
				c.hls, _ = manifest.ParseHLS(body)
			case manifest.ClassDASHMPD:
				c.dash, _ = manifest.ParseDASH(body)
			}
			cands[i] = c
		})
	}
	wg.Wait()
	best := -1
	for i, c := range cands {
		if c.resp == nil {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		b := cands[best]
		// Only versions of one presentation are compared: two packagers
		// that number and name segments each their own way publish two
		// streams, and flipping between them by a clock would take players
		// back and forth; then the earlier member in order keeps it.
		switch {
		case c.hls != nil && b.hls != nil && sharesSegment(b.hls, c.hls) && manifest.FresherHLS(b.hls, c.hls) > 0,
			c.dash != nil && b.dash != nil && b.dash.AvailabilityStartTime.Equal(c.dash.AvailabilityStartTime) &&
				manifest.FresherDASH(b.dash, c.dash) > 0:
			best = i
		}
	}
	for i, c := range cands {
		if c.resp != nil && i != best {
			p.metrics.OriginRequest(fr.rt.Name, fr.kind.String(), "2xx")
		}
	}
	if best < 0 {
		return nil, nil
	}
	w := cands[best]
	r := *w.resp
	r.Body = io.NopCloser(bytes.NewReader(w.body))
	r.ContentLength = int64(len(w.body))
	r.Header = w.resp.Header.Clone()
	r.Header.Set("Content-Length", strconv.Itoa(len(w.body)))
	return &r, healthy[best]
}

// sharesSegment reports whether two media playlists list a segment URI
// in common: versions of one stream.
func sharesSegment(a, b *manifest.HLSState) bool {
	seen := make(map[string]bool, len(a.Segments))
	for _, s := range a.Segments {
		seen[s.URI] = true
	}
	for _, s := range b.Segments {
		if seen[s.URI] {
			return true
		}
	}
	return false
}

// watchBody reports a body that breaks off to the member that sent it.
func watchBody(set *upstream.Set, o *upstream.Origin, body io.ReadCloser) io.ReadCloser {
	if set == nil || o == nil {
		return body
	}
	return &watchedBody{ReadCloser: body, set: set, o: o}
}

type watchedBody struct {
	io.ReadCloser
	set      *upstream.Set
	o        *upstream.Origin
	reported bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && !b.reported {
		b.reported = true
		b.set.Report(b.o, upstream.BodyError)
	}
	return n, err
}
