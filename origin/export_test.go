package origin

// RaceEnabled lets the external end-to-end tests relax timing goals under
// the race detector.
const RaceEnabled = raceEnabled
