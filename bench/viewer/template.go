package viewer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// errTemplate is wrapped for a SegmentTemplate URL that cannot be filled.
var errTemplate = errors.New("bad SegmentTemplate identifier")

// templateVars are the values of the identifiers of ISO/IEC 23009-1
// 5.3.9.4.4, Table 16.
type templateVars struct {
	repID     string
	number    uint64
	bandwidth int64
	time      uint64
}

// expandTemplate fills $RepresentationID$, $Number$, $Bandwidth$ and
// $Time$ (the last three with an optional %0<width>d format tag), and
// turns $$ into $. Anything else between dollars is an error, as is an
// unclosed one.
func expandTemplate(tmpl string, v templateVars) (string, error) {
	if !strings.Contains(tmpl, "$") {
		return tmpl, nil
	}
	var b strings.Builder
	b.Grow(len(tmpl) + 16)
	rest := tmpl
	for {
		i := strings.IndexByte(rest, '$')
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		b.WriteString(rest[:i])
		rest = rest[i+1:]
		j := strings.IndexByte(rest, '$')
		if j < 0 {
			return "", fmt.Errorf("template %q: unclosed $: %w", tmpl, errTemplate)
		}
		ident := rest[:j]
		rest = rest[j+1:]
		if ident == "" {
			b.WriteByte('$')
			continue
		}
		name, format, hasFormat := strings.Cut(ident, "%")
		width := 0
		if hasFormat {
			// Only %0<width>d is defined; the spec forbids a format tag
			// on $RepresentationID$.
			w, ok := strings.CutSuffix(format, "d")
			if !ok || !strings.HasPrefix(w, "0") || name == "RepresentationID" {
				return "", fmt.Errorf("template %q: format %q: %w", tmpl, format, errTemplate)
			}
			n, err := strconv.ParseUint(w, 10, 8)
			if err != nil || n > 64 {
				return "", fmt.Errorf("template %q: width %q: %w", tmpl, w, errTemplate)
			}
			width = int(n)
		}
		var digits string
		switch name {
		case "RepresentationID":
			b.WriteString(v.repID)
			continue
		case "Number":
			digits = strconv.FormatUint(v.number, 10)
		case "Bandwidth":
			digits = strconv.FormatInt(v.bandwidth, 10)
		case "Time":
			digits = strconv.FormatUint(v.time, 10)
		default:
			return "", fmt.Errorf("template %q: identifier %q: %w", tmpl, name, errTemplate)
		}
		for k := len(digits); k < width; k++ {
			b.WriteByte('0')
		}
		b.WriteString(digits)
	}
}
