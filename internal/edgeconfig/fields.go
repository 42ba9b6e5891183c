package edgeconfig

import (
	"encoding"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// UnknownFieldError is a key the config file has where the file's format
// has none: most often a typo, so it names the nearest known key.
type UnknownFieldError struct {
	Line       int    // 1-based line of the key in the file
	Field      string // the key as written
	Path       string // where it is: "" at the top level, else e.g. "cache" or "routes[1]"
	Suggestion string // the nearest known key at that level; "" when none is near
}

func (e *UnknownFieldError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "line %d: unknown field %q", e.Line, e.Field)
	if e.Path != "" {
		fmt.Fprintf(&b, " in %s", e.Path)
	}
	if e.Suggestion != "" {
		fmt.Fprintf(&b, " (did you mean %q?)", e.Suggestion)
	}
	return b.String()
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

// walk walks the document beside the Go type it decodes into and returns
// the first key that type has no field for, or nil. yaml.v3's own error
// for it names the Go type, not the place in the file a reader knows, and
// offers nothing near.
func walk(n *yaml.Node, t reflect.Type, path string) *UnknownFieldError {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil // a scalar of its own making (proxy.ByteSize)
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		known := map[string]reflect.Type{}
		structFields(t, known)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := known[k.Value]
			if !ok {
				return &UnknownFieldError{Line: k.Line, Field: k.Value, Path: path, Suggestion: nearest(k.Value, known)}
			}
			if e := walk(v, ft, join(path, k.Value)); e != nil {
				return e
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if e := walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); e != nil {
				return e
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, v := range n.Content {
			if e := walk(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); e != nil {
				return e
			}
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// structFields collects the YAML keys of t's fields, inline ones included,
// as yaml.v3 names them (the tag, else the lower-cased field name).
func structFields(t reflect.Type, into map[string]reflect.Type) {
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			structFields(f.Type, into)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		into[name] = f.Type
	}
}

// nearest returns the known key closest to s by edit distance, if it is
// near enough to be a likely typo of it (at most a third of the longer
// one's letters, and at least 1, apart).
func nearest(s string, known map[string]reflect.Type) string {
	best, bestD := "", -1
	for k := range known {
		d := levenshtein(s, k)
		if bestD < 0 || d < bestD || d == bestD && k < best {
			best, bestD = k, d
		}
	}
	if bestD < 0 || bestD > max(1, max(len(s), len(best))/3) {
		return ""
	}
	return best
}

// levenshtein is the edit distance between a and b (byte-wise: keys are
// ASCII).
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
