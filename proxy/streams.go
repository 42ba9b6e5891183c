package proxy

import (
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
	mu     sync.RWMutex
	byKey  map[string]*stream          // playlist key -> stream
	listed map[string]*stream          // segment/part/map key -> the stream listing it
	dirs   map[string]map[*stream]bool // directory of listed keys -> the live streams listing there
	labels int                         // streams given their own metrics label
	// maxLabels bounds the per-stream metric cardinality; later streams
	// are counted under "other".
	maxLabels int
	// maxStreams bounds the registry; the least recently seen go first.
	maxStreams int
}

type stream struct {
	key      string
	label    string
	target   time.Duration
	keys     []string // listed now
	dirs     []string
	lastSeen time.Time
}

func newStreams() *streams {
	return &streams{
		byKey:      map[string]*stream{},
		listed:     map[string]*stream{},
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

// premature reports a media segment, part or init segment of a live
// stream the edge follows that no playlist lists yet. A stream counts as
// followed while its playlist was refreshed within two target durations:
// with no viewer polling it, the edge's copy is too old to judge by.
func (s *streams) premature(key, path string) bool {
	switch manifest.Classify("", path, nil) {
	case manifest.ClassSegment, manifest.ClassPart, manifest.ClassInit:
	default:
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.listed[key]; ok {
		return false
	}
	now := time.Now()
	for st := range s.dirs[dirOf(key)] {
		if now.Sub(st.lastSeen) < 2*max(st.target, time.Second) {
			return true
		}
	}
	return false
}

// update records what a live media playlist lists now and returns the keys
// it did not list before (all of them the first time).
func (s *streams) update(key string, target time.Duration, keys []string, live bool, now time.Time) (added []string, first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.byKey[key]
	if st == nil {
		first = true
		st = &stream{key: key, label: "other"}
		if s.labels < s.maxLabels {
			st.label = key
			s.labels++
		}
		s.byKey[key] = st
		s.evictLocked(now)
	}
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
	hd.StaleWhileRevalidate = 0
}
