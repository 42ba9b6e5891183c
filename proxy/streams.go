package proxy

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/edgecache/edgecache/cache"
	"github.com/edgecache/edgecache/manifest"
)

// streams tracks the live HLS media playlists the edge has seen: which
// segment keys each one lists now, the directories those live in, and the
// smallest target duration. The proxy uses it to tell a premature segment
// (not listed yet) from a listed one, to prefetch what a new playlist adds,
// to cap 404 lifetimes, and to label per-stream metrics.
type streams struct {
	mu       sync.RWMutex
	byKey    map[string]*stream          // playlist key -> stream
	listed   map[string]*stream          // segment/part/map key -> the stream listing it
	hintKeys map[string]*stream          // preload-hinted part key -> the stream hinting it
	dirs     map[string]map[*stream]bool // directory of listed keys -> the live streams listing there
	labels   int                         // streams given their own metrics label
	// maxLabels bounds the per-stream metric cardinality; later streams
	// are counted under "other".
	maxLabels int
	// maxStreams bounds the registry; the least recently seen go first.
	maxStreams int
}

type stream struct {
	key        string
	label      string
	target     time.Duration
	keys       []string // listed now
	hints      []string // preload-hinted now
	dirs       []string
	lastSeen   time.Time
	listedOnce bool // update has run for it
	// newest is the most advanced playlist seen per delta-update mode
	// ("", "YES", "v2"), from any request: LL-HLS blocking requests are
	// answered from it when it reaches their target.
	newest map[string]newestPlaylist
}

// newestPlaylist is a playlist the edge holds (or is fetching) under key.
type newestPlaylist struct {
	key   string
	state *manifest.HLSState
	seen  time.Time
}

// position is how far a playlist reaches: its last part, or its last
// segment when no later part is listed. An ended playlist reaches all.
func position(st *manifest.HLSState) (msn uint64, part int) {
	if st.EndList {
		return ^uint64(0), int(^uint(0) >> 1)
	}
	last, ok := st.LastMSN()
	if pm, pi, pok := st.LastPart(); pok && (!ok || pm > last) {
		return pm, pi
	}
	return last, int(^uint(0) >> 1)
}

func before(am uint64, ap int, bm uint64, bp int) bool {
	return am < bm || am == bm && ap < bp
}

// observe records a media playlist of a rendition, fetched under key, and
// reports whether it is at least as advanced as any seen before: only
// then may it change what the rendition lists.
func (s *streams) observe(rendition, skip, key string, st *manifest.HLSState, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, _ := s.getLocked(rendition, now)
	if st.TargetDuration > 0 {
		r.target = st.TargetDuration
	}
	m, p := position(st)
	cur, ok := r.newest[skip]
	if ok {
		cm, cp := position(cur.state)
		if before(m, p, cm, cp) {
			return false
		}
	}
	if r.newest == nil {
		r.newest = map[string]newestPlaylist{}
	}
	r.newest[skip] = newestPlaylist{key: key, state: st, seen: now}
	if skip != "" {
		// A full playlist is what its delta updates are made from: for
		// deciding 400s and for listings, the full one counts.
		return false
	}
	return true
}

// reset forgets what a rendition's old stream reached and listed, after a
// restart: its next playlist is taken as the first one.
func (s *streams) reset(rendition string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.byKey[rendition]; r != nil {
		r.newest = nil
		r.listedOnce = false
	}
}

// newest returns the most advanced playlist of a rendition in a delta
// mode; a full playlist stands in for a delta request when it is newer.
func (s *streams) newest(rendition, skip string) (newestPlaylist, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r := s.byKey[rendition]
	if r == nil {
		return newestPlaylist{}, false
	}
	n, ok := r.newest[skip]
	if full, fok := r.newest[""]; skip != "" && fok {
		if !ok {
			return full, true
		}
		nm, np := position(n.state)
		fm, fp := position(full.state)
		if before(nm, np, fm, fp) {
			return full, true
		}
	}
	return n, ok
}

// target is a rendition's target duration, or zero if unknown.
func (s *streams) target(rendition string) time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if r := s.byKey[rendition]; r != nil {
		return r.target
	}
	return 0
}

func newStreams() *streams {
	return &streams{
		byKey:      map[string]*stream{},
		listed:     map[string]*stream{},
		hintKeys:   map[string]*stream{},
		dirs:       map[string]map[*stream]bool{},
		maxLabels:  64,
		maxStreams: 4096,
	}
}

func dirOf(path string) string {
	path, _, _ = strings.Cut(path, "?")
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "/"
}

// premature returns, for a media segment, part or init segment of a live
// stream the edge follows that no playlist lists yet, how long such a
// segment may still be being written: two target durations of the
// streams listing in its directory. It returns 0 for anything else. A
// stream counts as followed while its playlist was refreshed within two
// target durations: with no viewer polling it, the edge's copy is too old
// to judge by.
func (s *streams) premature(key, path string) time.Duration {
	switch manifest.Classify("", path, nil) {
	case manifest.ClassSegment, manifest.ClassPart, manifest.ClassInit:
	default:
		return 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.listed[key]; ok {
		return 0
	}
	now := time.Now()
	var window time.Duration
	for st := range s.dirs[dirOf(key)] {
		if w := 2 * max(st.target, time.Second); now.Sub(st.lastSeen) < w {
			window = max(window, w)
		}
	}
	return window
}

// unchangedFor reports that an origin's response says its representation has
// not changed for d: its Last-Modified (RFC 9110 8.8.2) is at least d
// before its Date (6.6.1), both by the origin's clock. A file origin
// (nginx, Go's FileServer) sends the file's mtime, which every write
// moves, so a settled file is not being written. Without either field, or
// with one unreadable, it is not known to be settled.
func unchangedFor(h http.Header, d time.Duration) bool {
	lm, ok := cache.ParseHTTPDate(h.Get("Last-Modified"))
	if !ok {
		return false
	}
	date, ok := cache.ParseHTTPDate(h.Get("Date"))
	return ok && date.Sub(lm) >= d
}

// update records what a live media playlist lists now and returns the keys
// it did not list before (all of them the first time).
func (s *streams) update(key string, target time.Duration, keys []string, live bool, now time.Time) (added []string, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, _ := s.getLocked(key, now)
	first = !st.listedOnce
	st.listedOnce = true
	st.lastSeen = now
	st.target = target
	// Unlist what this stream listed before and is gone now.
	next := make(map[string]bool, len(keys))
	for _, k := range keys {
		next[k] = true
	}
	for _, k := range st.keys {
		if !next[k] && s.listed[k] == st {
			delete(s.listed, k)
		}
	}
	for _, k := range keys {
		if s.listed[k] != st {
			added = append(added, k)
		}
		s.listed[k] = st
	}
	st.keys = keys
	s.undirLocked(st)
	if live {
		for _, k := range keys {
			d := dirOf(k)
			if s.dirs[d] == nil {
				s.dirs[d] = map[*stream]bool{}
			}
			if !s.dirs[d][st] {
				s.dirs[d][st] = true
				st.dirs = append(st.dirs, d)
			}
		}
	}
	return added, first
}

// getLocked returns the stream of a playlist key, made on first sight.
func (s *streams) getLocked(key string, now time.Time) (st *stream, first bool) {
	if st = s.byKey[key]; st != nil {
		return st, false
	}
	st = &stream{key: key, label: "other", lastSeen: now}
	if s.labels < s.maxLabels {
		st.label = key
		s.labels++
	}
	s.byKey[key] = st
	s.evictLocked(now)
	return st, true
}

// evictLocked drops the least recently seen stream when the registry is
// full.
func (s *streams) evictLocked(now time.Time) {
	if len(s.byKey) <= s.maxStreams {
		return
	}
	var oldest *stream
	for _, st := range s.byKey {
		if oldest == nil || st.lastSeen.Before(oldest.lastSeen) {
			oldest = st
		}
	}
	for _, k := range oldest.keys {
		if s.listed[k] == oldest {
			delete(s.listed, k)
		}
	}
	for _, k := range oldest.hints {
		if s.hintKeys[k] == oldest {
			delete(s.hintKeys, k)
		}
	}
	s.undirLocked(oldest)
	delete(s.byKey, oldest.key)
}

// undirLocked removes st from the directories it listed in.
func (s *streams) undirLocked(st *stream) {
	for _, d := range st.dirs {
		delete(s.dirs[d], st)
		if len(s.dirs[d]) == 0 {
			delete(s.dirs, d)
		}
	}
	st.dirs = st.dirs[:0]
}

// label returns the per-stream metrics label of a key: the playlist's own
// path for playlists and what they list, bounded in number.
func (s *streams) label(key string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if st := s.byKey[key]; st != nil {
		return st.label
	}
	if st := s.listed[key]; st != nil {
		return st.label
	}
	return ""
}

// labelTarget returns a key's per-stream label, as label does, with the
// stream's target duration.
func (s *streams) labelTarget(key string) (string, time.Duration) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.byKey[key]
	if st == nil {
		st = s.listed[key]
	}
	if st == nil {
		return "", 0
	}
	return st.label, st.target
}

// minTarget is the smallest target duration of the live streams seen, or
// zero when none.
func (s *streams) minTarget() time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var m time.Duration
	for _, st := range s.byKey {
		if st.target > 0 && (m == 0 || st.target < m) {
			m = st.target
		}
	}
	return m
}

// limitHead caps the lifetime of a 404 of a playlist or segment at one
// target duration, so a request made before a segment exists never makes
// it unreachable for longer (nginx and Varnish kept such 404s a minute).
func (s *streams) limitHead(hd *cache.Head, class manifest.Class) {
	if hd.Status != 404 {
		return
	}
	switch class.Kind() {
	case manifest.KindManifest, manifest.KindSegment, manifest.KindInit:
	default:
		return
	}
	limit := s.minTarget()
	if limit == 0 {
		limit = time.Second
	}
	if hd.Lifetime > limit {
		hd.Lifetime = limit
	}
	// Never served stale either: a 404 kept past its life would outlive
	// the segment it names all the same.
	hd.StaleWhileRevalidate, hd.StaleIfError = 0, 0
}

// setHints records the parts a rendition's newest playlist hints.
func (s *streams) setHints(rendition string, keys []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.byKey[rendition]
	if st == nil {
		return
	}
	for _, k := range st.hints {
		if s.hintKeys[k] == st {
			delete(s.hintKeys, k)
		}
	}
	for _, k := range keys {
		s.hintKeys[k] = st
	}
	st.hints = keys
}

// hinted reports whether a followed playlist hints key as its next part.
func (s *streams) hinted(key string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.hintKeys[key]
	return ok
}
