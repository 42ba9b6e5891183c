package live

import (
	"bytes"
	"hash/fnv"
	"strconv"
	"sync"
	"time"
)

// cacheClass decides the Cache-Control a served object gets.
type cacheClass uint8

const (
	// classLive is a playlist or MPD that changes as the stream advances.
	classLive cacheClass = iota
	// classImmutable is an init segment or media segment: its URL never
	// names other bytes, so caches may keep it for ever.
	classImmutable
)

// MIME types served.
const (
	mimeHLS      = "application/vnd.apple.mpegurl"
	mimeDASH     = "application/dash+xml"
	mimeVideoMP4 = "video/mp4"
	mimeAudioMP4 = "audio/mp4"
	mimeTS       = "video/mp2t"
)

// Entry is one complete object as served over HTTP. It is immutable once
// built: the store hands the same value to every reader (groupcache
// ByteView style), so nobody may write to body.
type Entry struct {
	body        []byte
	contentType string
	class       cacheClass
	etag        string
	modTime     time.Time
}

// ContentType is the object's Content-Type.
func (e *Entry) ContentType() string { return e.contentType }

// ETag is the object's strong entity tag, quoted.
func (e *Entry) ETag() string { return e.etag }

// ModTime is when the object was built.
func (e *Entry) ModTime() time.Time { return e.modTime }

// Immutable reports an init or media segment (or part), whose URL never
// names other bytes; the rest are live playlists and MPDs.
func (e *Entry) Immutable() bool { return e.class == classImmutable }

// Len is the body's length in bytes.
func (e *Entry) Len() int { return len(e.body) }

// NewReader reads the body; nobody can write to it through the reader.
func (e *Entry) NewReader() *bytes.Reader { return bytes.NewReader(e.body) }

func newEntry(body []byte, contentType string, class cacheClass, etag string, now time.Time) *Entry {
	if etag == "" {
		h := fnv.New64a()
		h.Write(body)
		etag = strconv.FormatUint(h.Sum64(), 36)
	}
	return &Entry{body: body, contentType: contentType, class: class, etag: `"` + etag + `"`, modTime: now}
}

// fileSet is a stream's HTTP namespace: names relative to /hls/STREAM/
// (and /dash/STREAM/). An object is added only when it is complete, and a
// batch of changes (a new segment plus the playlists listing it) becomes
// visible at once, so no reader can see a playlist naming a segment that
// is not there yet, nor a partial segment.
//
// Keys are plain names, not "segment N of track T", so that a later
// LL-HLS part (a fragment already in a segment's bytes) can become
// visible under its own name before its segment is complete.
type fileSet struct {
	mu    sync.RWMutex // guards files
	files map[string]*Entry
}

func newFileSet() *fileSet { return &fileSet{files: make(map[string]*Entry)} }

func (f *fileSet) get(name string) (*Entry, bool) {
	f.mu.RLock()
	e, ok := f.files[name]
	f.mu.RUnlock()
	return e, ok
}

// apply makes puts visible and removes dels in one step.
func (f *fileSet) apply(puts map[string]*Entry, dels []string) {
	f.mu.Lock()
	for _, name := range dels {
		delete(f.files, name)
	}
	for name, e := range puts {
		f.files[name] = e
	}
	f.mu.Unlock()
}
