package ingest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin/media"
	"github.com/edgecache/edgecache/origin/mediatest"
)

// flvFile builds an FLV from tags.
func flvFile(tags ...flvTag) []byte {
	b := []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}
	for _, t := range tags {
		ts := uint32(t.ts / time.Millisecond)
		n := len(t.data)
		b = append(b, t.typ, byte(n>>16), byte(n>>8), byte(n), byte(ts>>16), byte(ts>>8), byte(ts), byte(ts>>24), 0, 0, 0)
		b = append(b, t.data...)
		b = binary.BigEndian.AppendUint32(b, uint32(11+n))
	}
	return b
}

func avcConfigRecord() []byte {
	sps, pps := mediatest.SPS(), mediatest.PPS()
	b := []byte{1, sps[1], sps[2], sps[3], 0xff, 0xe1}
	b = binary.BigEndian.AppendUint16(b, uint16(len(sps)))
	b = append(b, sps...)
	b = append(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(pps)))
	return append(b, pps...)
}

func videoTag(ts time.Duration, key bool, pktType byte, body []byte) flvTag {
	ft := byte(0x27)
	if key {
		ft = 0x17
	}
	return flvTag{typ: flvTagVideo, ts: ts, data: append([]byte{ft, pktType, 0, 0, 0}, body...)}
}

func avccFrame(key bool) []byte {
	n := []byte{0x41, 1, 2, 3}
	if key {
		n[0] = 0x65
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(n))), n...)
}

func validClip() []byte {
	tags := []flvTag{
		{typ: flvTagScript, data: []byte{2, 0, 10}},
		videoTag(0, true, 0, avcConfigRecord()),
		{typ: flvTagAudio, data: []byte{0xaf, 0, 0x11, 0x90}}, // AAC LC 48 kHz stereo
	}
	for i := 0; i < 60; i++ {
		tags = append(tags, videoTag((time.Duration(i)*100*time.Millisecond/3).Round(time.Millisecond), i%30 == 0, 1, avccFrame(i%30 == 0)))
		tags = append(tags, flvTag{typ: flvTagAudio, ts: time.Duration(i*21+46) * time.Millisecond, data: []byte{0xaf, 1, 0xde, 0xad}})
	}
	return flvFile(tags...)
}

func TestParseFLV(t *testing.T) {
	good := validClip()
	tests := []struct {
		name    string
		in      []byte
		wantErr bool
	}{
		{"valid", good, false},
		{"empty", nil, true},
		{"not flv", []byte("GIF89a......."), true},
		{"bad header size", []byte{'F', 'L', 'V', 1, 5, 0xff, 0xff, 0xff, 0xff}, true},
		{"truncated tag", good[:len(good)-7], true},
		{"header only", good[:13], false},
		{"encrypted tag", flvFile(flvTag{typ: 0x20 | flvTagVideo, data: []byte{1}}), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFLV(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidFLV) {
				t.Errorf("err %v does not wrap ErrInvalidFLV", err)
			}
		})
	}
}

func TestParseDemoClip(t *testing.T) {
	c, err := parseDemoClip(validClip())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.sps, mediatest.SPS()) || c.asc.SampleRate != 48000 || c.period != 2*time.Second {
		t.Errorf("clip: sps %x rate %d period %v", c.sps, c.asc.SampleRate, c.period)
	}
	for i := 1; i < len(c.frames); i++ {
		if c.frames[i].dts < c.frames[i-1].dts {
			t.Fatalf("frames out of order at %d", i)
		}
	}
	for _, f := range c.frames {
		if f.dts >= c.period {
			t.Errorf("frame at %v beyond the loop period", f.dts)
		}
	}
}

// The committed demo clip is what `make run` plays: it must parse, loop
// on a GOP boundary and stay small.
func TestEmbeddedDemoClip(t *testing.T) {
	b, err := demoFS.ReadFile("demo/demo.flv")
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > 1<<20 {
		t.Errorf("demo clip is %d bytes, over 1 MiB", len(b))
	}
	c, err := parseDemoClip(b)
	if err != nil {
		t.Fatal(err)
	}
	v, err := media.NewH264Track(c.sps, c.pps)
	if err != nil {
		t.Fatal(err)
	}
	if v.Height() > 720 || c.period%(2*time.Second) != 0 {
		t.Errorf("demo clip %dx%d, loop %v", v.Width(), v.Height(), c.period)
	}
	// Looped, audio neither overlaps nor leaves a gap beyond a frame.
	var prev time.Duration = -1
	for loop := 0; loop < 2; loop++ {
		for _, f := range c.frames {
			if f.video {
				continue
			}
			ts := f.dts + time.Duration(loop)*c.period
			if prev >= 0 && (ts <= prev || ts-prev > 23*time.Millisecond) {
				t.Fatalf("audio frame at %v follows %v", ts, prev)
			}
			prev = ts
		}
	}
}

func FuzzParseDemoClip(f *testing.F) {
	f.Add(validClip())
	f.Add(flvFile(videoTag(0, true, 0, avcConfigRecord())))
	f.Add([]byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tags, err := parseFLV(b)
		if err == nil {
			// Anything accepted re-encodes to a file that parses the same.
			again, err := parseFLV(flvFile(tags...))
			if err != nil || len(again) != len(tags) {
				t.Fatalf("re-encoded FLV: %v (%d vs %d tags)", err, len(again), len(tags))
			}
		}
		if c, err := parseDemoClip(b); err == nil && c.period <= 0 {
			t.Fatalf("accepted clip with period %v", c.period)
		}
	})
}
