package viewer

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The simulator asks for gzip as players do, decodes what it gets, and
// decodes equal bodies once for all viewers; it refuses what it cannot
// read with a counted error, never a silently wrong body.
func TestFetchContentEncoding(t *testing.T) {
	plain := []byte(strings.Repeat("#EXTINF:2.000,\nseg.m4s\n", 200))
	gz := gzipped(t, plain)
	bomb := gzipped(t, make([]byte, maxPlaylistBytes+1))
	corrupt := bytes.Clone(gz)
	corrupt[len(corrupt)-5] ^= 0xff // the CRC-32 trailer (RFC 1952 2.2)
	var asked atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(r.Header.Get("Accept-Encoding"))
		body := plain
		switch r.URL.Path {
		case "/gz", "/gz-seg":
			if r.Header.Get("Accept-Encoding") == "gzip" {
				w.Header().Set("Content-Encoding", "gzip")
				body = gz
			}
		case "/bomb":
			w.Header().Set("Content-Encoding", "gzip")
			body = bomb
		case "/corrupt":
			w.Header().Set("Content-Encoding", "gzip")
			body = corrupt
		case "/br":
			w.Header().Set("Content-Encoding", "br")
		case "/identity":
			w.Header().Set("Content-Encoding", "identity")
		case "/big-length":
			body = make([]byte, maxPlaylistBytes+1)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		case "/big-chunked":
			body = make([]byte, maxPlaylistBytes+1) // too large to buffer: chunked
		case "/short":
			w.Header().Set("Content-Length", strconv.Itoa(len(body)+10))
		}
		w.Write(body)
	}))
	defer srv.Close()

	tests := []struct {
		name      string
		path      string
		opts      getOpts
		wantAsked string
		wantErr   error // nil: the body must be plain
		anyErr    bool
	}{
		{"gzip playlist decoded", "/gz", getOpts{keep: true}, "gzip", nil, false},
		{"gzip segment decoded while discarded", "/gz-seg", getOpts{}, "gzip", nil, false},
		{"a range is asked for as it is stored", "/gz", getOpts{keep: true, rangeHdr: "bytes=0-"}, "", nil, false},
		{"identity is plain", "/identity", getOpts{keep: true}, "gzip", nil, false},
		{"a decoded playlist past the bound", "/bomb", getOpts{keep: true}, "gzip", errBodyTooLarge, true},
		{"a corrupt gzip body", "/corrupt", getOpts{keep: true}, "gzip", nil, true},
		{"an encoding not asked for", "/br", getOpts{keep: true}, "gzip", nil, true},
		{"a playlist announced past the bound", "/big-length", getOpts{keep: true}, "gzip", errBodyTooLarge, true},
		{"a chunked playlist past the bound", "/big-chunked", getOpts{keep: true}, "gzip", errBodyTooLarge, true},
		{"a playlist shorter than its length", "/short", getOpts{keep: true}, "gzip", io.ErrUnexpectedEOF, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			rec := newRecorder(1)
			f := &fetcher{client: &http.Client{Transport: tr}, rec: rec, timeout: 10 * time.Second,
				bufs: discardBufs(), gzips: new(sync.Pool), unzipped: newParseCache[[]byte]()}
			u, _ := url.Parse(srv.URL + tc.path)
			r, err := f.get(t.Context(), u, ClassPlaylist, tc.opts)
			if got := asked.Load(); got != tc.wantAsked {
				t.Errorf("Accept-Encoding %q, want %q", got, tc.wantAsked)
			}
			netErrs := rec.errs[ClassPlaylist][errNetwork].Load()
			if tc.anyErr {
				if err == nil {
					t.Fatalf("got a body of %d bytes, want an error", r.size)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v, want %v", err, tc.wantErr)
				}
				if netErrs != 1 {
					t.Errorf("%d network errors counted, want 1", netErrs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if netErrs != 0 {
				t.Errorf("%d network errors counted", netErrs)
			}
			if r.size != int64(len(plain)) {
				t.Errorf("size %d, want the decoded %d", r.size, len(plain))
			}
			if tc.opts.keep && !bytes.Equal(r.body, plain) {
				t.Errorf("body differs from what the origin meant (%d bytes)", len(r.body))
			}
		})
	}

	// Two viewers loading the same gzipped bytes share one decode.
	t.Run("equal bodies decoded once", func(t *testing.T) {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		f := &fetcher{client: &http.Client{Transport: tr}, rec: newRecorder(1), timeout: 10 * time.Second,
			gzips: new(sync.Pool), unzipped: newParseCache[[]byte]()}
		u, _ := url.Parse(srv.URL + "/gz")
		a, err := f.get(t.Context(), u, ClassPlaylist, getOpts{keep: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.get(t.Context(), u, ClassPlaylist, getOpts{keep: true})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.body, plain) || &a.body[0] != &b.body[0] {
			t.Errorf("the second load was decoded again (or differs)")
		}
	})
}
