package cli

import (
	"os"
	"runtime/debug"
)

// MemoryLimit is the heap size the commands ask the Go runtime to stay
// under. The inputs are bounded (see the limits in README.md) so that the
// live data of the largest accepted input fits well below it; the limit
// makes the collector work harder near it instead of letting the heap
// double past the live data, so a hostile input within the limits stays
// under 256 MiB of memory.
const MemoryLimit = 192 << 20

// LimitMemory applies MemoryLimit, unless GOMEMLIMIT says otherwise.
func LimitMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(MemoryLimit)
	}
}
