//go:build race

package server

// raceEnabled: the race detector drops sync.Pool items at random, so
// allocation bounds that rely on pooled buffers do not hold under it.
const raceEnabled = true
