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
	deadline := time.Now().Add(10 * time.Second)
	for addr == "" {
		if m := addrRE.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no srt address logged:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	sc := srt.DefaultConfig()
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
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}
