// Package manifest reads, classifies, sanity-checks and rewrites HLS
// playlists (RFC 8216bis) and DASH MPDs (ISO/IEC 23009-1) for the edge.
//
// The package is pure: bytes in, bytes out. It never does I/O and never
// imports net/http, so the proxy decides what to fetch and this package
// only decides what the bytes mean.
//
// Rewriting is done at the line/attribute level for HLS and at the
// XML-token level for DASH. Only the spans that hold an absolute origin URL
// change; every other byte (comments, attribute order, whitespace, line
// endings, the XML declaration) passes through untouched. The libraries
// github.com/Eyevinn/hls-m3u8 and github.com/zencoder/go-dash are used only
// for reading, never to re-encode, because re-encoding drops tags and
// attributes they do not model (see hlslib.go and dashparse.go for what
// they lose).
package manifest
