package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/bench/viewer"
)

// liveHLS serves a media playlist that gains a 200 ms segment every
// 200 ms.
func liveHLS(t *testing.T) *httptest.Server {
	t0 := time.Now().Add(-2 * time.Second)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		newest := int(time.Since(t0)/(200*time.Millisecond)) - 1
		if r.URL.Path == "/live.m3u8" {
			fmt.Fprintf(w, "#EXTM3U\n#EXT-X-TARGETDURATION:0.2\n#EXT-X-MEDIA-SEQUENCE:%d\n", newest-5)
			for n := newest - 5; n <= newest; n++ {
				fmt.Fprintf(w, "#EXTINF:0.2,\ns%d.ts\n", n)
			}
			return
		}
		w.Write(make([]byte, 1000))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRun(t *testing.T) {
	srv := liveHLS(t)
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		wantErr    string
		wantCode   int
		wantStdout string
		wantStderr string
		jsonFile   string
	}{
		{name: "no url", args: nil, wantErr: "want one stream URL", wantCode: 2},
		{name: "bad flag", args: []string{"-nope", srv.URL}, wantErr: "not defined", wantCode: 2},
		{name: "bad format", args: []string{"-format", "xml", srv.URL}, wantErr: "-format", wantCode: 2},
		{
			name: "refuses a host off the machine", args: []string{"-n", "1", "http://192.0.2.1/live.m3u8"},
			wantErr: "192.0.2.1 is not a loopback address", wantCode: 1,
		},
		{
			name: "too many viewers", args: []string{"-n", "6", "-max-viewers", "5", srv.URL + "/live.m3u8"},
			wantErr: "cap of 5", wantCode: 1,
		},
		{
			name:       "table and progress",
			args:       []string{"-n", "2", "-duration", "700ms", "-progress", "200ms", srv.URL + "/live.m3u8"},
			wantStdout: "rebuffer events 0",
			wantStderr: "active",
		},
		{
			name:       "json to stdout and file",
			args:       []string{"-n", "2", "-duration", "500ms", "-progress", "0", "-format", "json", "-json", filepath.Join(dir, "r.json"), srv.URL + "/live.m3u8"},
			wantStdout: `"protocol": "hls"`,
			jsonFile:   filepath.Join(dir, "r.json"),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			err := run(t.Context(), tc.args, &stdout, &stderr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if c := exitCode(err); c != tc.wantCode {
					t.Errorf("exit code %d, want %d", c, tc.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("run: %v\n%s", err, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout does not have %q:\n%s", tc.wantStdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr does not have %q:\n%s", tc.wantStderr, stderr.String())
			}
			if tc.jsonFile != "" {
				b, err := os.ReadFile(tc.jsonFile)
				if err != nil {
					t.Fatal(err)
				}
				var rep viewer.Report
				if err := json.Unmarshal(b, &rep); err != nil {
					t.Fatal(err)
				}
				if rep.Viewers.Joined != 2 || rep.Protocol != "hls" {
					t.Errorf("report from file: %+v", rep.Viewers)
				}
			}
		})
	}
}
