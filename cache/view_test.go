package cache

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestByteView(t *testing.T) {
	v := ByteViewOf([]byte("hello, world"))
	for _, tc := range []struct {
		name string
		got  any
		want any
	}{
		{"Len", v.Len(), 12},
		{"At", v.At(4), byte('o')},
		{"Slice", v.Slice(7, 12).String(), "world"},
		{"String", v.String(), "hello, world"},
		{"Equal", v.Equal(ByteViewOf([]byte("hello, world"))), true},
		{"Equal other", v.Equal(v.Slice(0, 5)), false},
		{"EqualBytes", v.Slice(0, 5).EqualBytes([]byte("hello")), true},
		{"zero value", ByteView{}.Len(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	t.Run("NewReader", func(t *testing.T) {
		b, err := io.ReadAll(v.NewReader())
		if err != nil || string(b) != "hello, world" {
			t.Errorf("got %q, %v", b, err)
		}
	})
	t.Run("WriteTo", func(t *testing.T) {
		var buf bytes.Buffer
		if n, err := v.WriteTo(&buf); n != 12 || err != nil || buf.String() != "hello, world" {
			t.Errorf("got %d, %v, %q", n, err, buf.String())
		}
	})
}

// TestReadersCannotChange: nothing a reader is handed changes the entry
// (groupcache's ByteView): not the bytes it copies out, not the head it
// gets, not the header fields it copies into a response and appends to.
func TestReadersCannotChange(t *testing.T) {
	backing := make([]string, 1, 4)
	backing[0] = "Origin"
	h := http.Header{"Vary": backing, "Etag": {`"x"`}}
	e := NewEntry("k", Head{Status: 200, Header: NewHeader(h), Lifetime: time.Minute}, []byte("original"))

	b := e.Body().ByteSlice()
	b[0] = 'X'
	hd := e.Head()
	hd.Status, hd.Lifetime = 500, 0
	hd.Header.Values("Vary")[0] = "changed"
	dst := http.Header{}
	hd.Header.CopyTo(dst)
	dst["Vary"] = append(dst["Vary"], "Cookie")
	clone := hd.Header.Clone()
	clone.Set("Etag", `"y"`)
	src := []byte("original")
	v := ByteViewOf(src)
	src[1] = 'X'

	if got := e.Body().String(); got != "original" {
		t.Errorf("body = %q", got)
	}
	if v.String() != "original" {
		t.Errorf("ByteViewOf kept the caller's slice: %q", v.String())
	}
	if got := e.Head(); got.Status != 200 || got.Lifetime != time.Minute {
		t.Errorf("head = %d %v", got.Status, got.Lifetime)
	}
	if got := e.Head().Header.Values("Vary"); len(got) != 1 || got[0] != "Origin" {
		t.Errorf("Vary = %q", got)
	}
	if got := backing[:2][1]; got != "" {
		t.Errorf("an append through CopyTo wrote %q into the entry's backing array", got)
	}
	if et, _ := e.Validators(); et != `"x"` {
		t.Errorf("Etag = %q", et)
	}
}

func TestHeaderView(t *testing.T) {
	v := NewHeader(http.Header{"Cache-Control": {"max-age=1"}, "Vary": {"Origin", "Cookie"}, "Set-Cookie": {}})
	for _, tc := range []struct {
		name string
		got  any
		want any
	}{
		{"Get", v.Get("cache-control"), "max-age=1"},
		{"Get missing", v.Get("Etag"), ""},
		{"Values", strings.Join(v.Values("vary"), "|"), "Origin|Cookie"},
		{"Values missing", v.Values("Etag") == nil, true},
		{"Has", v.Has("vary"), true},
		{"Has without values", v.Has("Set-Cookie"), false},
		{"Len", v.Len(), 3},
		{"zero Len", Header{}.Len(), 0},
		{"zero Clone", len(Header{}.Clone()), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	t.Run("Range", func(t *testing.T) {
		got := map[string]string{}
		v.Range(func(k, val string) bool { got[k] = val; return true })
		if got["Vary"] != "Origin, Cookie" || got["Cache-Control"] != "max-age=1" || len(got) != 3 {
			t.Errorf("got %q", got)
		}
		n := 0
		v.Range(func(string, string) bool { n++; return false })
		if n != 1 {
			t.Errorf("Range went on after false: %d calls", n)
		}
	})
}
