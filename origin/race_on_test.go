//go:build race

package origin

// raceEnabled: timing goals are not checked under the race detector,
// which slows everything several times over.
const raceEnabled = true
