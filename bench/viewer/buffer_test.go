package viewer

import (
	"testing"
	"time"
)

// bufOp is one step of a buffer scenario, at a time in milliseconds since
// the start.
type bufOp struct {
	at  int
	add int  // milliseconds of media to add
	end bool // then End; neither: just advance
}

func TestBuffer(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	tests := []struct {
		name         string
		startAfter   int
		ops          []bufOp
		statsAt      int
		wantState    string
		wantStarted  int // ms; -1: never started
		wantPlayed   int
		wantStalled  int
		wantRebuf    int
		wantLevel    int
		wantRatioPct float64
	}{
		{
			name: "starts on the first segment", startAfter: 1,
			ops:     []bufOp{{at: 200, add: 1000}},
			statsAt: 700, wantState: "playing", wantStarted: 200, wantPlayed: 500, wantLevel: 500,
		},
		{
			name: "start buffer of two waits for the second", startAfter: 2,
			ops:     []bufOp{{at: 100, add: 1000}, {at: 300, add: 1000}},
			statsAt: 300, wantState: "playing", wantStarted: 300, wantLevel: 2000,
		},
		{
			name: "waiting to start is not stalling", startAfter: 2,
			ops:     []bufOp{{at: 0, add: 1000}},
			statsAt: 5000, wantState: "waiting", wantStarted: -1, wantLevel: 1000,
		},
		{
			name: "segments in time never stall", startAfter: 1,
			ops:     []bufOp{{at: 0, add: 1000}, {at: 900, add: 1000}, {at: 1800, add: 1000}},
			statsAt: 2500, wantState: "playing", wantStarted: 0, wantPlayed: 2500, wantLevel: 500,
		},
		{
			name: "arriving exactly as it runs dry is not a stall", startAfter: 1,
			ops:     []bufOp{{at: 0, add: 1000}, {at: 1000, add: 1000}},
			statsAt: 1500, wantState: "playing", wantStarted: 0, wantPlayed: 1500, wantLevel: 500,
		},
		{
			name: "late segment stalls", startAfter: 1,
			ops:     []bufOp{{at: 0, add: 1000}, {at: 1500, add: 1000}},
			statsAt: 2000, wantState: "playing", wantStarted: 0, wantPlayed: 1500, wantStalled: 500,
			wantRebuf: 1, wantLevel: 500, wantRatioPct: 25,
		},
		{
			name: "stall is timed from the moment it ran dry, however late the call", startAfter: 1,
			ops:     []bufOp{{at: 0, add: 1000}, {at: 4000, add: 1000}},
			statsAt: 4000, wantState: "playing", wantStarted: 0, wantPlayed: 1000, wantStalled: 3000,
			wantRebuf: 1, wantLevel: 1000, wantRatioPct: 75,
		},
		{
			name: "two stalls", startAfter: 1,
			ops: []bufOp{
				{at: 0, add: 500}, {at: 700, add: 500}, // dry at 500, stall 200
				{at: 1500, add: 500, end: true}, // dry at 1200, stall 300
			},
			statsAt: 2000, wantState: "done", wantStarted: 0, wantPlayed: 1500, wantStalled: 500,
			wantRebuf: 2, wantRatioPct: 25,
		},
		{
			name: "a stall still running when the run ends counts", startAfter: 1,
			ops:     []bufOp{{at: 0, add: 1000}},
			statsAt: 3000, wantState: "stalled", wantStarted: 0, wantPlayed: 1000, wantStalled: 2000,
			wantRebuf: 1, wantRatioPct: 200.0 / 3,
		},
		{
			name: "end of stream drains without a rebuffer", startAfter: 1,
			ops:     []bufOp{{at: 0, add: 1000}, {at: 500, end: true}},
			statsAt: 3000, wantState: "done", wantStarted: 0, wantPlayed: 1000,
		},
		{
			name: "end while stalled stops the stall clock", startAfter: 1,
			ops:     []bufOp{{at: 0, add: 1000}, {at: 1500, end: true}},
			statsAt: 3000, wantState: "done", wantStarted: 0, wantPlayed: 1000, wantStalled: 500,
			wantRebuf: 1, wantRatioPct: 100.0 / 3,
		},
		{
			name: "end before the start threshold plays what there is", startAfter: 3,
			ops:     []bufOp{{at: 0, add: 1000}, {at: 200, end: true}},
			statsAt: 700, wantState: "playing", wantStarted: 200, wantPlayed: 500, wantLevel: 500,
		},
		{
			name: "end with nothing buffered never starts", startAfter: 1,
			ops:     []bufOp{{at: 200, end: true}},
			statsAt: 700, wantState: "done", wantStarted: -1,
		},
		{
			name: "a clock going backwards changes nothing", startAfter: 1,
			ops:     []bufOp{{at: 1000, add: 1000}, {at: 1400}, {at: 1200}},
			statsAt: 1300, wantState: "playing", wantStarted: 1000, wantPlayed: 400, wantLevel: 600,
		},
		{
			name: "nothing is added after done", startAfter: 1,
			ops:     []bufOp{{at: 0, add: 100}, {at: 50, end: true}, {at: 200, add: 1000}},
			statsAt: 300, wantState: "done", wantStarted: 0, wantPlayed: 100,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
			b := NewBuffer(tc.startAfter)
			for _, op := range tc.ops {
				now := t0.Add(ms(op.at))
				if op.add > 0 {
					b.Add(now, ms(op.add), time.Time{})
				}
				if op.end {
					b.End(now)
				}
				b.Advance(now)
			}
			s := b.Stats(t0.Add(ms(tc.statsAt)))
			if s.State != tc.wantState {
				t.Errorf("state %s, want %s", s.State, tc.wantState)
			}
			if tc.wantStarted < 0 {
				if s.Started {
					t.Errorf("started at %v, want never", s.StartedAt.Sub(t0))
				}
			} else if !s.Started || s.StartedAt != t0.Add(ms(tc.wantStarted)) {
				t.Errorf("started %v at %v, want at %v", s.Started, s.StartedAt.Sub(t0), ms(tc.wantStarted))
			}
			if s.Played != ms(tc.wantPlayed) || s.Stalled != ms(tc.wantStalled) || s.Rebuffers != tc.wantRebuf || s.Level != ms(tc.wantLevel) {
				t.Errorf("played %v stalled %v rebuffers %d level %v, want %v %v %d %v",
					s.Played, s.Stalled, s.Rebuffers, s.Level, ms(tc.wantPlayed), ms(tc.wantStalled), tc.wantRebuf, ms(tc.wantLevel))
			}
			if got := s.RebufferRatio() * 100; got < tc.wantRatioPct-1e-9 || got > tc.wantRatioPct+1e-9 {
				t.Errorf("rebuffer ratio %.4f%%, want %.4f%%", got, tc.wantRatioPct)
			}
		})
	}
}

func TestBufferLatency(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	sec := time.Second
	tests := []struct {
		name   string
		setup  func(b *Buffer)
		now    int // ms
		want   time.Duration
		wantOK bool
	}{
		{"before playback", func(b *Buffer) {}, 0, 0, false},
		{
			"inside the first piece",
			func(b *Buffer) { b.Add(at(10000), 2*sec, at(0)) },
			10500, 10 * sec, true,
		},
		{
			"in the second piece",
			func(b *Buffer) { b.Add(at(10000), 2*sec, at(0)); b.Add(at(10100), 2*sec, at(2000)) },
			12500, 10 * sec, true,
		},
		{
			"grows while stalled",
			func(b *Buffer) { b.Add(at(10000), 2*sec, at(0)) },
			15000, 13 * sec, true,
		},
		{
			"piece without wall clock",
			func(b *Buffer) { b.Add(at(10000), 2*sec, time.Time{}) },
			10500, 0, false,
		},
		{
			"after the end",
			func(b *Buffer) { b.Add(at(10000), 2*sec, at(0)); b.End(at(10000)) },
			13000, 0, false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBuffer(1)
			tc.setup(b)
			got, ok := b.Latency(at(tc.now))
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Latency = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func BenchmarkBuffer(b *testing.B) {
	b.ReportAllocs()
	t0 := time.Now()
	buf := NewBuffer(1)
	now := t0
	for b.Loop() {
		// A segment every 2 s, the state checked four times in between.
		buf.Add(now, 2*time.Second, now.Add(-6*time.Second))
		for range 4 {
			now = now.Add(500 * time.Millisecond)
			buf.Advance(now)
			_, _ = buf.Latency(now)
		}
	}
}
