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
// endings, the XML declaration) passes through untouched. HLS is read by
// this package's own line scan; github.com/Eyevinn/hls-m3u8 reads every
// test and fuzz input a second time and must agree (hlslib_test.go says
// what it gets wrong and so why it is not the reader here).
// github.com/zencoder/go-dash is used only for reading, never to re-encode,
// because re-encoding drops what it does not model (dashparse.go).
//
// The LL-HLS blocking-reload rules (RFC 8216bis 6.2.5: delivery
// directives, "reaches", "too far", the Advance Part Limit) live here too
// (llhls.go), for the packager and the edge alike.
package manifest
