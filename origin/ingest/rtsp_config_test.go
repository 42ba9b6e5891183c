package ingest

import (
	"strings"
	"testing"
)

func TestRTSPConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*RTSPConfig)
		wantErr string // "" for valid
	}{
		{"defaults", func(*RTSPConfig) {}, ""},
		{"a read buffer", func(c *RTSPConfig) { c.UDPReadBuffer = 4 << 20 }, ""},
		{"a negative read buffer", func(c *RTSPConfig) { c.UDPReadBuffer = -1 }, "rtsp.udp_read_buffer"},
		{"bad ports", func(c *RTSPConfig) { c.UDPPorts = "9-1" }, "rtsp.udp_ports"},
		{"retry_max below retry_min", func(c *RTSPConfig) { c.RetryMin, c.RetryMax = 2e9, 1e9 }, "retry_max"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c RTSPConfig
			c.ApplyDefaults()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("valid config refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("got %v, want an error naming %s", err, tc.wantErr)
			}
		})
	}
}
