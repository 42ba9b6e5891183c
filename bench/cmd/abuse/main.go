// Command abuse measures the edge under two abusive loads, on loopback:
// cache-busting requests for a large object (every request a distinct key,
// so nothing collapses: what bounds memory is the in-flight budget) and
// slowloris (connections that never finish their request head). It starts
// the edgecache binary in front of an origin of its own, samples the
// edge's resident memory, and times normal requests while the abuse runs.
//
//	go run ./bench/cmd/abuse -edge bin/edgecache -mode bust -n 1000
//	go run ./bench/cmd/abuse -edge bin/edgecache -mode slowloris -n 5000
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	edgeBin := flag.String("edge", "bin/edgecache", "the edgecache binary")
	mode := flag.String("mode", "bust", "bust: cache-busting requests for a large object; slowloris: unfinished request heads")
	n := flag.Int("n", 1000, "concurrent abusive requests or connections")
	size := flag.Int("size", 16<<20, "object size for bust")
	budget := flag.String("budget", "", "cache.max_inflight_bytes for the edge (empty: its default)")
	maxBytes := flag.String("cache", "512MiB", "cache.max_bytes for the edge")
	hold := flag.Duration("hold", 20*time.Second, "how long slowloris connections are held (bounded)")
	timeout := flag.Duration("timeout", 5*time.Minute, "how long one abusive request may take before it counts as failed")
	dump := flag.Bool("dump", false, "on a failed request, have the edge print its goroutines (SIGQUIT) to stderr")
	flag.Parse()
	if err := run(*edgeBin, *mode, *n, *size, *budget, *maxBytes, *hold, *timeout, *dump); err != nil {
		log.Fatal(err)
	}
}

func run(edgeBin, mode string, n, size int, budget, maxBytes string, hold, timeout time.Duration, dump bool) error {
	obj := make([]byte, size)
	for i := range obj {
		obj[i] = byte(i * 31)
	}
	originLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	origin := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Content-Type", "video/mp2t")
		if strings.HasPrefix(r.URL.Path, "/small") {
			w.Write(obj[:2048])
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(obj)))
		for off := 0; off < len(obj); off += 64 << 10 {
			if _, err := w.Write(obj[off:min(off+64<<10, len(obj))]); err != nil {
				return
			}
		}
	})}
	go origin.Serve(originLn)
	defer origin.Close()

	edgeAddr, adminAddr := freeAddr(), freeAddr()
	dir, err := os.MkdirTemp("", "abuse")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := fmt.Sprintf("listen: %s\nadmin_listen: %s\nlog_level: error\ncache:\n  max_bytes: %s\n", edgeAddr, adminAddr, maxBytes)
	if budget != "" {
		cfg += "  max_inflight_bytes: " + budget + "\n"
	}
	cfg += fmt.Sprintf("routes:\n  - prefix: /\n    origin: http://%s/\n", originLn.Addr())
	cfgPath := filepath.Join(dir, "edge.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	cmd := exec.Command(edgeBin, "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if err := waitReady("http://" + adminAddr + "/readyz"); err != nil {
		return err
	}
	base := "http://" + edgeAddr
	// Warm the small object: the probe measures hits.
	if _, err := fetch(base + "/small.ts"); err != nil {
		return err
	}
	idle := rss(cmd.Process.Pid)

	ctx, stop := context.WithCancel(context.Background())
	var peak atomic.Int64
	var probes []time.Duration
	var probeErrs int
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // memory sampler
		defer wg.Done()
		for ctx.Err() == nil {
			if r := rss(cmd.Process.Pid); r > peak.Load() {
				peak.Store(r)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	go func() { // a normal viewer's request, every 100 ms
		defer wg.Done()
		for ctx.Err() == nil {
			d, err := fetch(base + "/small.ts")
			if err != nil {
				probeErrs++
			} else {
				probes = append(probes, d)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()

	start := time.Now()
	var detail string
	switch mode {
	case "bust":
		var failed bool
		detail, failed, err = bust(base, n, len(obj), timeout)
		if failed && dump {
			cmd.Process.Signal(syscall.SIGQUIT)
			time.Sleep(time.Second)
		}
	case "slowloris":
		detail, err = slowloris(edgeAddr, n, hold)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	stop()
	wg.Wait()
	if err != nil {
		return err
	}
	slices.Sort(probes)
	q := func(p float64) time.Duration {
		if len(probes) == 0 {
			return 0
		}
		return probes[min(len(probes)-1, int(p*float64(len(probes))))]
	}
	fmt.Printf("mode=%s n=%d size=%d budget=%q cache=%s\n", mode, n, len(obj), budget, maxBytes)
	fmt.Printf("  %s in %.1fs\n", detail, time.Since(start).Seconds())
	fmt.Printf("  edge RSS: idle %.0f MiB, peak %.0f MiB (VmHWM %.0f MiB)\n", mib(idle), mib(peak.Load()), mib(hwm(cmd.Process.Pid)))
	fmt.Printf("  normal requests meanwhile: %d, p50 %v, p99 %v, max %v, failed %d\n", len(probes), q(0.5), q(0.99), q(1), probeErrs)
	return nil
}

// bust sends n concurrent requests, each with its own query string.
func bust(base string, n, size int, timeout time.Duration) (string, bool, error) {
	var wg sync.WaitGroup
	var ok, bad atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n, DisableCompression: true}, Timeout: timeout}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(fmt.Sprintf("%s/big.ts?bust=%d", base, i))
			if err != nil {
				log.Printf("request %d: %v", i, err)
				bad.Add(1)
				return
			}
			m, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && m == int64(size) {
				ok.Add(1)
			} else {
				log.Printf("request %d: %d, %d bytes: %v", i, resp.StatusCode, m, err)
				bad.Add(1)
			}
		}()
	}
	wg.Wait()
	return fmt.Sprintf("%d whole bodies, %d failed", ok.Load(), bad.Load()), bad.Load() > 0, nil
}

// slowloris opens n connections that send a request head a byte at a
// time and never finish it, and counts those the edge closes within hold.
func slowloris(addr string, n int, hold time.Duration) (string, error) {
	var wg sync.WaitGroup
	var opened, closedByEdge atomic.Int64
	deadline := time.Now().Add(hold)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return
			}
			defer c.Close()
			opened.Add(1)
			io.WriteString(c, "GET /small.ts HTTP/1.1\r\nHost: x\r\n")
			br := bufio.NewReader(c)
			for time.Now().Before(deadline) {
				if _, err := io.WriteString(c, "X"); err != nil {
					closedByEdge.Add(1)
					return
				}
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, err := br.ReadByte(); err != nil {
					if ne, ok := err.(net.Error); ok && ne.Timeout() {
						continue
					}
					closedByEdge.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	return fmt.Sprintf("%d slow connections opened, %d closed by the edge within %v", opened.Load(), closedByEdge.Load(), hold), nil
}

func fetch(url string) (time.Duration, error) {
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("%s: %d", url, resp.StatusCode)
	}
	return time.Since(start), nil
}

func waitReady(url string) error {
	for range 100 {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("edge not ready at %s", url)
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func rss(pid int) int64   { return procStatus(pid, "VmRSS") }
func hwm(pid int) int64   { return procStatus(pid, "VmHWM") }
func mib(b int64) float64 { return float64(b) / (1 << 20) }
