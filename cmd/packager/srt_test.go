package main

import (
	"context"
	"io"
	"regexp"
	"testing"
	"time"

	srt "github.com/datarhei/gosrt"
)

// The CLI contract for SRT: -srt-listen (and PACKAGER_SRT_LISTEN, which
// the flag beats) opens an SRT listener that takes publish:live/NAME.
func TestSRTListen(t *testing.T) {
	env := func(k string) (string, bool) { return "127.0.0.1:7", k == "PACKAGER_SRT_LISTEN" }
	cfg, _, err := loadConfig(nil, env, io.Discard)
	if err != nil || cfg.SRT.Listen != "127.0.0.1:7" {
		t.Fatalf("PACKAGER_SRT_LISTEN: srt.listen %q, %v", cfg.SRT.Listen, err)
	}
	if cfg, _, err = loadConfig([]string{"-srt-listen", "127.0.0.1:8"}, env, io.Discard); err != nil || cfg.SRT.Listen != "127.0.0.1:8" {
		t.Fatalf("-srt-listen: srt.listen %q, %v", cfg.SRT.Listen, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-rtmp-listen", "127.0.0.1:0", "-http-listen", "127.0.0.1:0", "-srt-listen", "127.0.0.1:0", "-shutdown-grace", "0s"}, nil, &logs, nil)
	}()
	addrRE := regexp.MustCompile(`srt=(127\.0\.0\.1:\d+)`)
	var addr string
	deadline := time.Now().Add(liveness)
	for addr == "" {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no srt address logged in %v:\n%s", liveness, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	sc := srt.DefaultConfig()
	// gosrt gives up a handshake after 3 s by default, which a loaded
	// machine can take; the bound here is a failsafe. A refusal is
	// answered at once, whatever the bound.
	sc.ConnectionTimeout = liveness
	sc.StreamId = "publish:live/cli"
	conn, err := srt.Dial("srt", addr, sc)
	if err != nil {
		t.Fatalf("publish:live/cli refused: %v\n%s", err, logs.String())
	}
	conn.Close()
	sc.StreamId = "publish:other/cli"
	if conn, err := srt.Dial("srt", addr, sc); err == nil {
		conn.Close()
		t.Error("publish:other/cli accepted")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(liveness):
		t.Fatalf("run did not return %v after cancel", liveness)
	}
}
