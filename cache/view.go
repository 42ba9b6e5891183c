package cache

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// ByteView is a read-only view of bytes the cache holds: a stored body or
// a piece of a fill. Entries and fills are shared by every reader, so
// nothing a reader holds may write to them (groupcache's ByteView). The
// zero value is an empty view.
type ByteView struct {
	b []byte
}

// ByteViewOf returns a view of a copy of b: the caller keeps b to do with
// as it likes.
func ByteViewOf(b []byte) ByteView { return ByteView{b: bytes.Clone(b)} }

// Len returns the number of bytes in the view.
func (v ByteView) Len() int { return len(v.b) }

// At returns the byte at index i.
func (v ByteView) At(i int) byte { return v.b[i] }

// Slice returns the view of bytes from to to (as b[from:to]) without
// copying.
func (v ByteView) Slice(from, to int) ByteView { return ByteView{b: v.b[from:to]} }

// ByteSlice returns a copy of the bytes, the caller's to change.
func (v ByteView) ByteSlice() []byte { return bytes.Clone(v.b) }

// String returns the bytes as a string (a copy).
func (v ByteView) String() string { return string(v.b) }

// Equal reports whether two views hold the same bytes.
func (v ByteView) Equal(w ByteView) bool { return bytes.Equal(v.b, w.b) }

// EqualBytes reports whether the view holds the bytes of b.
func (v ByteView) EqualBytes(b []byte) bool { return bytes.Equal(v.b, b) }

// NewReader returns a reader over the view (it can seek, never write).
func (v ByteView) NewReader() *bytes.Reader { return bytes.NewReader(v.b) }

// WriteTo writes the bytes to w in one Write, without copying them first.
// Like every io.Writer, w must not retain or modify what it is given.
func (v ByteView) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(v.b)
	return int64(n), err
}

// Header is a read-only view of a head's header fields. A stored head is
// shared by every reader of its entry, so none of them may change it; a
// reader that needs to change fields takes a Clone. The zero value has no
// fields.
type Header struct {
	h http.Header
}

// NewHeader makes h the header of a head being built. h stays the
// caller's to change until the head is handed to the cache
// (FillWriter.WriteHead, NewEntry, Entry.WithHead); from then on it is
// the cache's, and the caller must not touch it again.
func NewHeader(h http.Header) Header { return Header{h: h} }

// Get returns the first value of the field key, as http.Header.Get.
func (h Header) Get(key string) string { return h.h.Get(key) }

// Values returns a copy of the values of the field key.
func (h Header) Values(key string) []string {
	vs := h.h.Values(key)
	if len(vs) == 0 {
		return nil
	}
	return append([]string(nil), vs...)
}

// Has reports whether the field key has a value, without copying them.
func (h Header) Has(key string) bool {
	return len(h.h[http.CanonicalHeaderKey(key)]) > 0
}

// Len returns the number of fields.
func (h Header) Len() int { return len(h.h) }

// Range calls f with each field name and its joined values (as a list
// field would be written: ", " between them) until f returns false.
// It allocates only for fields with more than one value.
func (h Header) Range(f func(key, value string) bool) {
	for k, vs := range h.h {
		var v string
		if len(vs) == 1 {
			v = vs[0]
		} else {
			v = strings.Join(vs, ", ")
		}
		if !f(k, v) {
			return
		}
	}
}

// Clone returns a deep copy: a header the caller may change.
func (h Header) Clone() http.Header {
	if h.h == nil {
		return http.Header{}
	}
	return h.h.Clone()
}

// CopyTo sets each field of the view in dst, replacing dst's values of
// those fields, for the hit path to fill a response header without
// allocating. dst shares the view's value slices: it may replace a field
// or append to one (the slices are clipped, so an append copies), never
// write an element in place. net/http's server only reads them.
func (h Header) CopyTo(dst http.Header) {
	for k, vs := range h.h {
		dst[k] = vs
	}
}

// seal clips every value slice, so that an append by a reader that was
// given one through CopyTo copies instead of writing past its end into
// a backing array other readers share. It writes only slices that need
// it: a header sealed before (a head refreshed with WithHead) is only
// read, never written, while other readers may be reading it.
func (h Header) seal() {
	for k, vs := range h.h {
		if cap(vs) != len(vs) {
			h.h[k] = vs[:len(vs):len(vs)]
		}
	}
}

// cost is what the fields count against the byte budget.
func (h Header) cost() int64 {
	var n int64
	for k, vs := range h.h {
		n += int64(len(k)) + 16
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	return n
}
