package fleet

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sort"
	"sync"
)

// front stands in front of one packager on the packager's public address
// and counts what the fleet asks of it: requests per object and the
// distinct playlist versions it served. Killing the packager closes the
// front too, so the shields see a refused connection, as they would.
type front struct {
	srv *http.Server
	ln  net.Listener
	rp  *httputil.ReverseProxy

	mu       sync.Mutex
	objects  map[string]int // path -> requests, media and init
	lists    map[string]int // playlist path -> requests
	versions map[string]map[[32]byte]bool
}

var (
	partRE = regexp.MustCompile(`/\d+\.\d+\.m4s$`)
	segRE  = regexp.MustCompile(`/\d+\.m4s$`)
)

func newFront(addr, target string) (*front, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	f := &front{ln: ln, objects: map[string]int{}, lists: map[string]int{}, versions: map[string]map[[32]byte]bool{}}
	f.rp = &httputil.ReverseProxy{
		Rewrite:        func(r *httputil.ProxyRequest) { r.SetURL(u); r.Out.Host = r.In.Host },
		FlushInterval:  -1,
		ModifyResponse: f.observe,
		ErrorLog:       nil,
	}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve)}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

func (f *front) serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	f.mu.Lock()
	switch {
	case p == "/readyz" || p == "/healthz":
		// The shields' active health checks: not fleet load.
	case isPlaylist(p):
		f.lists[p]++
	default:
		f.objects[p]++
	}
	f.mu.Unlock()
	f.rp.ServeHTTP(w, r)
}

func isPlaylist(p string) bool {
	return len(p) > 5 && (p[len(p)-5:] == ".m3u8" || p[len(p)-4:] == ".mpd")
}

// observe hashes playlist bodies to count distinct versions.
func (f *front) observe(resp *http.Response) error {
	p := resp.Request.URL.Path
	if !isPlaylist(p) || resp.StatusCode != http.StatusOK {
		return nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	h := sha256.Sum256(b)
	f.mu.Lock()
	if f.versions[p] == nil {
		f.versions[p] = map[[32]byte]bool{}
	}
	f.versions[p][h] = true
	f.mu.Unlock()
	return nil
}

// close stops accepting and cuts every connection, as a dead host does.
func (f *front) close() { _ = f.srv.Close() }

// originCounts is what the fronts saw, summed over every packager.
type originCounts struct {
	Segments, SegmentReqs int // distinct full segments, requests for them
	Parts, PartReqs       int
	Inits, InitReqs       int
	Playlists             int // distinct playlist paths
	PlaylistReqs          int
	PlaylistVersions      int // distinct bodies, summed over paths
	// MostAsked: the media objects asked for most often, "path count".
	MostAsked []string
	// Histogram of requests per full segment: index n counts segments asked n times (capped).
	SegmentReqHist []int
}

func sumCounts(fs []*front) originCounts {
	var c originCounts
	objs := map[string]int{}
	lists := map[string]int{}
	vers := map[string]map[[32]byte]bool{}
	for _, f := range fs {
		f.mu.Lock()
		for p, n := range f.objects {
			objs[p] += n
		}
		for p, n := range f.lists {
			lists[p] += n
		}
		for p, vs := range f.versions {
			if vers[p] == nil {
				vers[p] = map[[32]byte]bool{}
			}
			for h := range vs {
				vers[p][h] = true
			}
		}
		f.mu.Unlock()
	}
	type pc struct {
		p string
		n int
	}
	var top []pc
	c.SegmentReqHist = make([]int, 8)
	for p, n := range objs {
		top = append(top, pc{p, n})
		if segRE.MatchString(p) && !partRE.MatchString(p) {
			c.SegmentReqHist[min(n, 7)]++
		}
		switch {
		case partRE.MatchString(p):
			c.Parts++
			c.PartReqs += n
		case segRE.MatchString(p):
			c.Segments++
			c.SegmentReqs += n
		default:
			c.Inits++
			c.InitReqs += n
		}
	}
	sort.Slice(top, func(i, j int) bool { return top[i].n > top[j].n || top[i].n == top[j].n && top[i].p < top[j].p })
	for _, x := range top[:min(5, len(top))] {
		c.MostAsked = append(c.MostAsked, fmt.Sprintf("%s %d", x.p, x.n))
	}
	for p, n := range lists {
		c.Playlists++
		c.PlaylistReqs += n
		c.PlaylistVersions += len(vers[p])
	}
	return c
}
