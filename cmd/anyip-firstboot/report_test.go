package main

import (
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
)

// The last line of an invalid run names where the errors are: it is what
// `systemctl status` shows first, after every part's line.
func TestInvalidLastLineNamesTheKey(t *testing.T) {
	b := newBox(t)
	r := b.run(e2etest.Base3NIC().With("loadbalance.service_ip_range", "10.30.0.70/26"), "--publish=false")
	b.want(r, 1)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "the configuration is invalid (1 error") || !strings.Contains(last, "at loadbalance.service_ip_range)") {
		t.Errorf("last line %q", last)
	}
}
