//go:build !amd64

package main

// foreignABI has nothing to try where there is no second ABI.
func foreignABI() {}
