//go:build race

package proxy

// raceEnabled: the race detector slows everything several times over;
// tests that move a lot of bytes move fewer under it.
const raceEnabled = true
