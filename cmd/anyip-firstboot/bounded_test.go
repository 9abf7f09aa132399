package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/ovfenv"
)

// A megabyte host name and 1,500 bad ranges: every line printed is
// short, the text lists the first findings and counts the rest, the JSON
// report is capped with findings_omitted, and the published status holds
// whole findings and a count within its size.
func TestEchoedValuesAreBounded(t *testing.T) {
	bad := make([]string, 1500)
	for i := range bad {
		bad[i] = fmt.Sprintf("bogus%d", i)
	}
	env := example(t, "ovf-env-3nic.xml",
		"network.hostname", strings.Repeat("h", 1<<20),
		"loadbalance.service_ip_range", strings.Join(bad, ", "))
	b := newBox(t)
	tool := newRpctool(t, writeTemp(t, "ovf-env.xml", env))
	r := b.firstboot(tool.dir)
	b.want(r, 1)
	lines := strings.Split(r.All(), "\n")
	for _, l := range lines {
		if len(l) > 2*finding.MaxMessage {
			t.Fatalf("a line of %d bytes: %.200s...", len(l), l)
		}
	}
	listed := 0
	for _, l := range strings.Split(r.Stdout, "\n") {
		if strings.HasPrefix(l, "error: ") || strings.HasPrefix(l, "warning: ") {
			listed++
		}
	}
	if listed != finding.MaxListed {
		t.Errorf("%d findings listed, want %d", listed, finding.MaxListed)
	}
	if !strings.Contains(r.Stdout, "more (") || !strings.Contains(r.Stdout, `network.hostname = "hhhh`) {
		t.Errorf("report:\n%.2000s", r.Stdout)
	}

	st := tool.status()
	if len(st) > ovfenv.MaxStatusSize || strings.HasSuffix(st, "[truncated]") {
		t.Errorf("published status of %d bytes ends %q", len(st), st[max(0, len(st)-60):])
	}
	if !strings.HasPrefix(st, "invalid: ") || !strings.Contains(st, "network.hostname") || !strings.Contains(st, "\n... and ") {
		t.Errorf("published status:\n%s", st)
	}

	r = b.firstboot(tool.dir, "--output", "json", "--publish=false")
	b.want(r, 1)
	var rep struct {
		Findings        []finding.Finding `json:"findings"`
		FindingsOmitted int               `json:"findings_omitted"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) != maxJSONFindings || rep.FindingsOmitted < 500 {
		t.Errorf("JSON: %d findings, %d omitted", len(rep.Findings), rep.FindingsOmitted)
	}
	if len(r.Stdout) > 1<<20 {
		t.Errorf("JSON report of %d bytes", len(r.Stdout))
	}
}
