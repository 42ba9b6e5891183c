package cmcd

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Parse: temporary stand-in until the parser lands (lead).
func Parse(query string, h http.Header) Data {
	var d Data
	var parts []string
	if v, err := url.ParseQuery(query); err == nil {
		parts = append(parts, v["CMCD"]...)
	}
	for _, f := range []string{"Cmcd-Request", "Cmcd-Object", "Cmcd-Status", "Cmcd-Session"} {
		parts = append(parts, h[f]...)
	}
	for _, p := range parts {
		for _, kv := range strings.Split(p, ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "sid":
				d.SID = v
			case "cid":
				d.CID = v
			case "bs":
				d.BS = true
			case "ot":
				d.OT = v
			case "br":
				d.BR, _ = strconv.Atoi(v)
			}
		}
	}
	return d
}

// StripQuery: temporary stand-in until the parser lands (lead).
func StripQuery(raw string) (string, bool) {
	var out []string
	found := false
	for _, p := range strings.Split(raw, "&") {
		if strings.HasPrefix(p, "CMCD=") || p == "CMCD" {
			found = true
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, "&"), found
}
