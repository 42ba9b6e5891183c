package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a fake time source the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func urls(os []*Origin) []string {
	out := make([]string, len(os))
	for i, o := range os {
		out[i] = o.Raw
	}
	return out
}

// liveness bounds what a local server answers at once unless the code
// under test is broken: a failsafe, not a speed, generous enough for a
// loaded CI machine. Tests of checks against such servers use it as the
// check timeout, where the default (2 s) would make a slow answer a
// failed check.
const liveness = 30 * time.Second

func mustSet(t testing.TB, cfg Config) *Set {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func byURL(s *Set, u string) *Origin {
	for _, o := range s.Origins() {
		if o.Raw == u {
			return o
		}
	}
	panic(u)
}

const (
	a = "http://a.example/"
	b = "http://b.example/"
	c = "http://c.example/"
	d = "http://d.example/"
)

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no origins", Config{}},
		{"bad mode", Config{Mode: "random", Origins: []OriginConfig{{URL: a}}}},
		{"relative url", Config{Origins: []OriginConfig{{URL: "/x/"}}}},
		{"ftp url", Config{Origins: []OriginConfig{{URL: "ftp://x/"}}}},
		{"duplicate", Config{Origins: []OriginConfig{{URL: a}, {URL: a}}}},
		{"bad role", Config{Origins: []OriginConfig{{URL: a, Role: "spare"}}}},
		{"only backups", Config{Origins: []OriginConfig{{URL: a, Role: "backup"}}}},
		{"negative weight", Config{Origins: []OriginConfig{{URL: a, Weight: -1}}}},
		{"huge weight", Config{Origins: []OriginConfig{{URL: a, Weight: 1001}}}},
		{"negative backoff", Config{Origins: []OriginConfig{{URL: a}}, Health: HealthConfig{Backoff: -1}}},
		{"relative check path", Config{Origins: []OriginConfig{{URL: a}}, Health: HealthConfig{CheckPath: "healthz"}}},
		{"check port without path", Config{Origins: []OriginConfig{{URL: a}}, Health: HealthConfig{CheckPort: 9091}}},
		{"check port out of range", Config{Origins: []OriginConfig{{URL: a}}, Health: HealthConfig{CheckPath: "/readyz", CheckPort: 70000}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v, want ErrConfig", err)
			}
		})
	}
}

func TestOrderFailover(t *testing.T) {
	cfg := func() Config {
		return Config{Origins: []OriginConfig{{URL: a}, {URL: b, Role: "backup"}, {URL: c}, {URL: d, Role: "backup"}}}
	}
	for _, tc := range []struct {
		name string
		down []string // marked down, in this order (each one tick later)
		want []string
	}{
		{"all up: primaries then backups", nil, []string{a, c, b, d}},
		{"first primary down", []string{a}, []string{c, b, d, a}},
		{"both primaries down: backups, then down soonest back", []string{c, a}, []string{b, d, c, a}},
		{"a backup down", []string{b}, []string{a, c, d, b}},
		{"everything down: last resort in recovery order", []string{d, a, b, c}, []string{d, a, b, c}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			c := cfg()
			c.Now = clk.Now
			s := mustSet(t, c)
			for _, u := range tc.down {
				s.Report(byURL(s, u), ConnectError)
				clk.Add(time.Millisecond)
			}
			got := urls(s.Order("/k"))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("Order = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestOrderRoundRobinWeights(t *testing.T) {
	s := mustSet(t, Config{Mode: ModeRoundRobin, Origins: []OriginConfig{{URL: a, Weight: 3}, {URL: b}, {URL: c, Role: "backup"}}})
	first := map[string]int{}
	for i := 0; i < 400; i++ {
		o := s.Order("")
		if len(o) != 3 || o[2].Raw != c {
			t.Fatalf("order %v: the backup must come last", urls(o))
		}
		first[o[0].Raw]++
	}
	if first[a] != 300 || first[b] != 100 {
		t.Errorf("first picks %v, want a:300 b:100 (weights 3:1)", first)
	}
}

func TestOrderHashStableAndComplete(t *testing.T) {
	s := mustSet(t, Config{Mode: ModeHash, Origins: []OriginConfig{{URL: a}, {URL: b}, {URL: c}, {URL: d, Role: "backup"}}})
	s2 := mustSet(t, Config{Mode: ModeHash, Origins: []OriginConfig{{URL: c}, {URL: a}, {URL: b}, {URL: d, Role: "backup"}}})
	for i := 0; i < 200; i++ {
		k := fmt.Sprintf("/live/seg%d.m4s", i)
		o1, o2 := urls(s.Order(k)), urls(s.Order(k))
		if fmt.Sprint(o1) != fmt.Sprint(o2) {
			t.Fatalf("key %s: order changed between calls: %v, %v", k, o1, o2)
		}
		// Another edge listing the same shields in another order agrees:
		// the choice depends on the members, not on the config order.
		if o3 := urls(s2.Order(k)); o3[0] != o1[0] {
			t.Fatalf("key %s: %v on one edge, %v on another", k, o1, o3)
		}
		if len(o1) != 4 || o1[3] != d {
			t.Fatalf("key %s: %v: want three primaries then the backup", k, o1)
		}
	}
}

// hrwWinner is the definition of rendezvous hashing, written out apart from
// the code under test: the member with the highest score wins.
func hrwWinner(members []*Origin, key string) *Origin {
	var best *Origin
	bestScore := -1.0
	for _, o := range members {
		if sc := score(o, fnv64a(key)); sc > bestScore {
			best, bestScore = o, sc
		}
	}
	return best
}

// TestHashRemovalMovesOnlyItsShare takes one of N shields out (down) and
// checks that exactly the keys it won move, each to the member the HRW
// definition names, and that no other key moves. The keys are fixed, so
// the count is exact, not a statistical bound; the share is also near 1/N.
func TestHashRemovalMovesOnlyItsShare(t *testing.T) {
	for _, n := range []int{2, 3, 5, 8} {
		t.Run(fmt.Sprintf("N=%d", n), func(t *testing.T) {
			var ocs []OriginConfig
			for i := 0; i < n; i++ {
				ocs = append(ocs, OriginConfig{URL: fmt.Sprintf("http://127.0.0.%d:8080/", 10+i)})
			}
			clk := newClock()
			s := mustSet(t, Config{Mode: ModeHash, Origins: ocs, Now: clk.Now})
			const keys = 10000
			before := make([]*Origin, keys)
			for i := range before {
				before[i] = s.Order(fmt.Sprintf("/live/stream/%d.m4s", i))[0]
			}
			gone := s.Origins()[n/2]
			s.Report(gone, ConnectError)
			var rest []*Origin
			for _, o := range s.Origins() {
				if o != gone {
					rest = append(rest, o)
				}
			}
			moved, owned := 0, 0
			for i := range before {
				k := fmt.Sprintf("/live/stream/%d.m4s", i)
				after := s.Order(k)[0]
				if before[i] == gone {
					owned++
				}
				if after != before[i] {
					moved++
					if before[i] != gone {
						t.Fatalf("key %s moved from %s to %s though its shield stayed", k, before[i].Raw, after.Raw)
					}
				}
				if want := hrwWinner(rest, k); after != want {
					t.Fatalf("key %s went to %s, HRW says %s", k, after.Raw, want.Raw)
				}
			}
			if moved != owned {
				t.Errorf("moved %d keys, the leaving member owned %d", moved, owned)
			}
			// Share sanity (10000 keys, so a loose bound is not flaky).
			if lo, hi := keys/n*7/10, keys/n*13/10; owned < lo || owned > hi {
				t.Errorf("leaving member owned %d of %d keys, want about 1/%d", owned, keys, n)
			}
			// It comes back: every key returns to where it was.
			clk.Add(time.Hour)
			for i := range before {
				if got := s.Order(fmt.Sprintf("/live/stream/%d.m4s", i))[0]; got != before[i] {
					t.Fatalf("key %d on %s after recovery, was %s", i, got.Raw, before[i].Raw)
				}
			}
		})
	}
}

func TestHashWeights(t *testing.T) {
	s := mustSet(t, Config{Mode: ModeHash, Origins: []OriginConfig{{URL: a, Weight: 3}, {URL: b, Weight: 1}}})
	n := map[string]int{}
	for i := 0; i < 8000; i++ {
		n[s.Order(fmt.Sprintf("k%d", i))[0].Raw]++
	}
	if n[a] < 5400 || n[a] > 6600 {
		t.Errorf("weight 3:1 gave %v, want a near 6000", n)
	}
}

func TestHealthMarkingAndRecovery(t *testing.T) {
	type step struct {
		advance time.Duration
		report  Outcome
		noRep   bool
		wantUp  bool
	}
	R := func(o Outcome, up bool) step { return step{report: o, wantUp: up} }
	W := func(d time.Duration, up bool) step { return step{advance: d, noRep: true, wantUp: up} }
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"connect error marks down at once", []step{R(ConnectError, false)}},
		{"5xx needs three in a row", []step{R(ServerError, true), R(ServerError, true), R(ServerError, false)}},
		{"a success resets the count", []step{R(ServerError, true), R(ServerError, true), R(Success, true), R(ServerError, true), R(Timeout, true), R(BodyError, false)}},
		{"back after the backoff", []step{R(ConnectError, false), W(4999*time.Millisecond, false), W(time.Millisecond, true)}},
		{"a failed retry doubles the backoff", []step{R(ConnectError, false), W(5*time.Second, true), R(ServerError, false), W(9*time.Second, false), W(time.Second, true)}},
		{"backoff capped", []step{
			R(ConnectError, false), W(5*time.Second, true),
			R(ConnectError, false), W(10*time.Second, true),
			R(ConnectError, false), W(20*time.Second, true),
			R(ConnectError, false), W(20*time.Second, false), W(time.Second, false), W(4*time.Second, true), // 40s?
		}},
		{"a success after the backoff resets it", []step{R(ConnectError, false), W(5*time.Second, true), R(Success, true), R(ConnectError, false), W(5*time.Second, true)}},
		{"late failures while down do not extend it", []step{R(ConnectError, false), W(3*time.Second, false), R(ServerError, false), W(2*time.Second, true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			s := mustSet(t, Config{Now: clk.Now, Origins: []OriginConfig{{URL: a}, {URL: b}},
				Health: HealthConfig{Backoff: 5 * time.Second, MaxBackoff: 25 * time.Second}})
			o := byURL(s, a)
			for i, st := range tc.steps {
				clk.Add(st.advance)
				if !st.noRep {
					s.Report(o, st.report)
				}
				if got := s.Healthy(o); got != st.wantUp {
					t.Fatalf("step %d: healthy = %v, want %v", i, got, st.wantUp)
				}
				if first := s.Order("")[0]; (first == o) != st.wantUp {
					t.Fatalf("step %d: order starts with %s", i, first.Raw)
				}
			}
		})
	}
}

func TestActiveCheck(t *testing.T) {
	var healthy atomic.Bool
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" { // from the host's root, not under /base/
			t.Errorf("check path %q", r.URL.Path)
		}
		hits.Add(1)
		if !healthy.Load() {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/"
	l.Close()

	clk := newClock()
	s := mustSet(t, Config{Now: clk.Now, Origins: []OriginConfig{{URL: srv.URL + "/base/"}, {URL: refused}},
		Health: HealthConfig{CheckPath: "/healthz", Failures: 2, Backoff: time.Minute, CheckTimeout: liveness}})
	o, dead := s.Origins()[0], s.Origins()[1]
	ctx := context.Background()
	s.CheckNow(ctx)
	if s.Healthy(o) != true || s.Healthy(dead) {
		t.Fatalf("after one round: origin up=%v, refused up=%v", s.Healthy(o), s.Healthy(dead))
	}
	s.CheckNow(ctx)
	if s.Healthy(o) {
		t.Fatal("two failed checks with failures=2 must mark it down")
	}
	healthy.Store(true)
	s.CheckNow(ctx) // well before the minute's backoff
	if !s.Healthy(o) {
		t.Fatal("a passing check must bring it back before its backoff ends")
	}
	if got := s.Stats()[0].Outcomes[Success]; got != 0 {
		t.Errorf("checks counted as request outcomes: %d", got)
	}
	if hits.Load() != 3 {
		t.Errorf("%d checks reached the origin, want 3", hits.Load())
	}
}

// TestActiveCheckPort: with check_port the check goes to that port of the
// member's host (an edgecache shield's admin listener), not the one that
// serves media, whose answer would be a proxied 404.
func TestActiveCheckPort(t *testing.T) {
	media := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.NotFound(w, r)
	}))
	defer media.Close()
	var ready atomic.Bool
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" || !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer admin.Close()
	au, _ := url.Parse(admin.URL)
	port, _ := strconv.Atoi(au.Port())
	s := mustSet(t, Config{Origins: []OriginConfig{{URL: media.URL + "/hls/"}},
		Health: HealthConfig{CheckPath: "/readyz", CheckPort: port, Failures: 1, Backoff: time.Hour, CheckTimeout: liveness}})
	o := s.Origins()[0]
	s.CheckNow(context.Background())
	if s.Healthy(o) {
		t.Fatal("the admin listener said not ready, yet the member is up")
	}
	ready.Store(true)
	s.CheckNow(context.Background())
	if !s.Healthy(o) {
		t.Fatal("the admin listener's /readyz passed, yet the member stays down: the check went elsewhere")
	}
}

// countingTransport counts the requests its client starts.
type countingTransport struct {
	base http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.base.RoundTrip(r)
}

func TestActiveCheckGoroutineStops(t *testing.T) {
	seen := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case seen <- struct{}{}:
		default:
		}
	}))
	defer srv.Close()
	// Checks are counted as the client starts them: Close waits for the
	// check loop and the checks it started, so the count is final when
	// Close returns, while the server may yet see a check that was sent
	// before Close cancelled it.
	tr := &countingTransport{base: &http.Transport{}}
	defer tr.base.(*http.Transport).CloseIdleConnections()
	s := mustSet(t, Config{Origins: []OriginConfig{{URL: srv.URL}}, Client: &http.Client{Transport: tr},
		Health: HealthConfig{CheckPath: "/h", CheckInterval: time.Millisecond, CheckTimeout: liveness}})
	s.Start(context.Background())
	select {
	case <-seen:
	case <-time.After(liveness):
		t.Fatalf("no check ran in %v", liveness)
	}
	s.Close()
	n := tr.n.Load()
	s.Close() // twice is fine
	// Time for a check loop that outlived Close to check again (it checks
	// every millisecond). A slow machine can only hide such a loop, never
	// fail a correct Close.
	time.Sleep(50 * time.Millisecond)
	if got := tr.n.Load(); got != n {
		t.Errorf("checks went on after Close: %d then %d", n, got)
	}
}

func TestClassify(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, refusedErr := http.Get("http://" + addr + "/")
	for _, tc := range []struct {
		name   string
		err    error
		status int
		want   Outcome
	}{
		{"200", nil, 200, Success},
		{"404 is an answer", nil, 404, Success},
		{"503", nil, 503, ServerError},
		{"refused", refusedErr, 0, ConnectError},
		{"deadline", fmt.Errorf("fill: %w", context.DeadlineExceeded), 0, Timeout},
		{"other", errors.New("unexpected EOF"), 0, ServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err, tc.status); got != tc.want {
				t.Errorf("Classify(%v, %d) = %v, want %v", tc.err, tc.status, got, tc.want)
			}
		})
	}
}

func TestStats(t *testing.T) {
	s := mustSet(t, Config{Route: "live", Origins: []OriginConfig{{URL: a}, {URL: b, Role: "backup"}}})
	s.Report(s.Origins()[0], Success)
	s.Report(s.Origins()[0], ConnectError)
	st := s.Stats()
	if len(st) != 2 || st[0].Route != "live" || st[0].Up || !st[1].Up || st[1].Role != "backup" ||
		st[0].Trips != 1 || st[0].Outcomes[Success] != 1 || st[0].Outcomes[ConnectError] != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

func BenchmarkOrder(b *testing.B) {
	for _, mode := range []Mode{ModeFailover, ModeRoundRobin, ModeHash} {
		b.Run(string(mode), func(b *testing.B) {
			s := mustSet(b, Config{Mode: mode, Origins: []OriginConfig{{URL: a}, {URL: "http://b.example/"}, {URL: c}, {URL: d, Role: "backup"}}})
			buf := make([]*Origin, 0, 4)
			b.ReportAllocs()
			for b.Loop() {
				buf = s.AppendOrder(buf[:0], "/live/stream/1234.m4s")
			}
		})
	}
}

func BenchmarkReport(b *testing.B) {
	s := mustSet(b, Config{Origins: []OriginConfig{{URL: a}}})
	o := s.Origins()[0]
	b.ReportAllocs()
	for b.Loop() {
		s.Report(o, Success)
	}
}
