//go:build race

package injection

// maxDetectAllocs allows the scratch buffer: under the race detector
// sync.Pool drops items at random, so a Detect may have to allocate it.
const maxDetectAllocs = 1
