package viewer

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"
)

func TestParseCache(t *testing.T) {
	c := newParseCache[string]()
	calls := 0
	parse := func(b []byte) (string, error) {
		calls++
		if string(b) == "bad" {
			return "", errors.New("bad")
		}
		return "parsed " + string(b), nil
	}
	steps := []struct {
		name      string
		key, body string
		want      string
		wantCalls int // total parses so far
	}{
		{"first parse", "", "a", "parsed a", 1},
		{"same body is shared", "", "a", "parsed a", 1},
		{"another body", "", "b", "parsed b", 2},
		{"same body, other key", "k", "a", "parsed a", 3},
		{"errors are not cached", "", "bad", "", 4},
		{"errors are not cached, again", "", "bad", "", 5},
		{"still cached", "", "b", "parsed b", 5},
	}
	for _, s := range steps {
		got, _ := c.get(s.key, []byte(s.body), parse)
		if got != s.want || calls != s.wantCalls {
			t.Errorf("%s: got %q after %d parses, want %q after %d", s.name, got, calls, s.want, s.wantCalls)
		}
	}
	// The ring forgets the oldest once full.
	for i := range parseCacheSize {
		c.get("", []byte(fmt.Sprint(i)), parse)
	}
	before := calls
	c.get("", []byte("a"), parse)
	if calls != before+1 {
		t.Errorf("the oldest entry was not evicted")
	}
}

func BenchmarkDASHReloadCached(b *testing.B) {
	o := newLiveOrigin(2*time.Second, 30)
	data := []byte(o.mpd(o.t0.Add(time.Hour)))
	base, _ := url.Parse("http://127.0.0.1/dash/live.mpd")
	rs := &runState{dashP: newParseCache[*dashDoc]()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rs.parseMPD(data, base); err != nil {
			b.Fatal(err)
		}
	}
}
