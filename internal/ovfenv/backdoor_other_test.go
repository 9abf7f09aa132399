//go:build !(386 || amd64)

package ovfenv

// Off x86 the real channel never gets as far as a CPU check.
var (
	errNotVirtualForTest = errNoBackdoor
	wantNotVirtualMsg    = "exists only on x86"
)
