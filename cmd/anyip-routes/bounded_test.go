package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestUpOutputIsBounded: a megabyte line and a million bad lines print
// as the first findings, clipped, and a count of the rest.
func TestUpOutputIsBounded(t *testing.T) {
	b := newBox(t)
	lines := make([]string, 0, 1_000_001)
	lines = append(lines, strings.Repeat("y", 1<<20))
	// Short ones, so that the file stays within the 4 MiB it may hold.
	for i := range 1_000_000 {
		lines = append(lines, strconv.Itoa(i%10))
	}
	b.writeCfg(lines...)
	r := b.run("up")
	b.want(r, 1)
	if len(r.Stdout)+len(r.Stderr) > 256<<10 {
		t.Errorf("%d bytes of output", len(r.Stdout)+len(r.Stderr))
	}
	if !strings.Contains(r.Stdout, "... and 999901 more (999901 errors, 0 warnings)") {
		t.Errorf("no count of the rest:\n%.3000s", r.Stdout)
	}
}
