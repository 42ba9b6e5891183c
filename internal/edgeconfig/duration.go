package edgeconfig

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ParseDuration parses a duration in Go's syntax ("500ms", "1.5h",
// "1h30m") or in nginx's: a sequence of numbers with the units ms, s, m
// (minutes), h, d, w, M (a month of 30 days) and y (365 days), largest
// first, optionally separated by spaces ("1d", "1h 30m", "1y6M"), as
// ngx_parse_time reads them. A bare number is seconds, as in nginx.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	if d, ok := parseNginxDuration(s); ok {
		return d, nil
	}
	return 0, fmt.Errorf("bad duration %q (want e.g. 500ms, 10s, 1m, 1h30m, 1d)", s)
}

// nginxUnits in the order nginx requires them, largest first.
var nginxUnits = []struct {
	unit string
	d    time.Duration
}{
	{"y", 365 * 24 * time.Hour},
	{"M", 30 * 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"ms", time.Millisecond}, // before "m", which it starts with
	{"m", time.Minute},
	{"s", time.Second},
}

// rank orders nginx's units, largest first (ms is the smallest).
func rank(unit string) int {
	switch unit {
	case "y":
		return 0
	case "M":
		return 1
	case "w":
		return 2
	case "d":
		return 3
	case "h":
		return 4
	case "m":
		return 5
	case "s":
		return 6
	case "ms":
		return 7
	}
	return -1
}

func parseNginxDuration(s string) (time.Duration, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		// A bare number is seconds, and only as the whole value.
		if n < 0 || n > math.MaxInt64/int64(time.Second) {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if s == "" {
		return 0, false
	}
	var total time.Duration
	last := -1
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 18 {
			return 0, false
		}
		n, _ := strconv.ParseInt(s[:i], 10, 64) // at most 18 digits: fits
		s = s[i:]
		var unit time.Duration
		r := -1
		for _, u := range nginxUnits {
			if strings.HasPrefix(s, u.unit) {
				unit, r, s = u.d, rank(u.unit), s[len(u.unit):]
				break
			}
		}
		if r <= last {
			return 0, false // no unit, or not each unit once, largest first, as nginx wants
		}
		last = r
		if n > math.MaxInt64/int64(unit) || total > math.MaxInt64-time.Duration(n)*unit {
			return 0, false
		}
		total += time.Duration(n) * unit
		s = strings.TrimLeft(s, " ")
	}
	return total, true
}

var durationType = reflect.TypeFor[time.Duration]()

// DurationError is a duration value in the config file that neither Go
// nor nginx syntax reads.
type DurationError struct {
	Line  int    // 1-based line of the value
	Path  string // the key, e.g. "classes.segment.ttl" or "status_ttl.404"
	Value string
	Err   error
}

func (e *DurationError) Error() string {
	return fmt.Sprintf("line %d: %s: %v", e.Line, e.Path, e.Err)
}

func (e *DurationError) Unwrap() error { return e.Err }

// durations walks the document beside the Go type it decodes into and
// rewrites every scalar bound for a time.Duration into Go's syntax, so
// that nginx's units ("1d", "1h 30m", "10") decode. A value neither syntax
// reads is a *DurationError naming its key and line.
func durations(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode || n.Kind == yaml.DocumentNode {
		return nil // aliases share the node they point at, which is walked there
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return nil // yaml.v3 reports the wrong kind itself
		}
		d, err := ParseDuration(n.Value)
		if err != nil {
			return &DurationError{Line: n.Line, Path: path, Value: n.Value, Err: err}
		}
		n.Value, n.Tag, n.Style = d.String(), "!!str", 0
		return nil
	}
	if reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		known := map[string]reflect.Type{}
		structFields(t, known)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if ft, ok := known[k.Value]; ok {
				if err := durations(v, ft, join(path, k.Value)); err != nil {
					return err
				}
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := durations(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, v := range n.Content {
			if err := durations(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}
