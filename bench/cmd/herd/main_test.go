package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/edgecache/edgecache/bench/herd"
)

func TestRun(t *testing.T) {
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/count" {
			fmt.Fprint(w, count.Load())
			return
		}
		count.Add(1)
		w.Write([]byte("segment bytes"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		wantErr    string
		wantCode   int
		wantStdout string
		jsonFile   string
	}{
		{name: "no url", args: nil, wantErr: "want one object URL", wantCode: 2},
		{name: "bad format", args: []string{"-format", "csv", srv.URL}, wantErr: "-format", wantCode: 2},
		{name: "refuses a host off the machine", args: []string{"http://192.0.2.1/x"}, wantErr: "not a loopback address", wantCode: 1},
		{
			name:       "table",
			args:       []string{"-n", "20", "-settle", "1ms", "-origin-count-url", srv.URL + "/count", srv.URL + "/seg.m4s"},
			wantStdout: "origin fetches: 20",
		},
		{
			name:       "json",
			args:       []string{"-n", "5", "-format", "json", "-json", filepath.Join(dir, "h.json"), srv.URL + "/seg.m4s"},
			wantStdout: `"identical": true`,
			jsonFile:   filepath.Join(dir, "h.json"),
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
			if tc.jsonFile != "" {
				b, err := os.ReadFile(tc.jsonFile)
				if err != nil {
					t.Fatal(err)
				}
				var rep herd.Report
				if err := json.Unmarshal(b, &rep); err != nil || rep.Clients != 5 || !rep.Identical {
					t.Errorf("report from file: %+v, %v", rep, err)
				}
			}
		})
	}
}
