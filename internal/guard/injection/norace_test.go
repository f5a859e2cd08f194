//go:build !race

package injection

// maxDetectAllocs is 0: the scratch buffer comes from the pool.
const maxDetectAllocs = 0
