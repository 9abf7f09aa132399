package check

import (
	"fmt"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/finding"
)

// A million bad lines, each a megabyte long at worst, make a report of
// bounded size: details clipped and capped, the rest counted.
func TestReportIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(strings.Repeat("x", 1<<20) + "\n")
	// Within the 4 MiB the file may hold.
	for i := range 1_000_000 {
		fmt.Fprintf(&b, "%x\n", i%16)
	}
	r, _ := Config(cfgPath, []byte(b.String()), nil)
	wantResult(t, r, Fail, "1000001 lines do not parse")
	if len(r.Details) != maxDetails || r.More != 1_000_001-maxDetails {
		t.Fatalf("%d details, %d more", len(r.Details), r.More)
	}
	rep := NewReport([]Result{r})
	var text, js strings.Builder
	rep.WriteText(&text)
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if text.Len() > 8<<10 || js.Len() > 400<<10 {
		t.Errorf("text %d bytes, JSON %d bytes", text.Len(), js.Len())
	}
	if !strings.Contains(text.String(), "... and 999981 more (--output json lists up to 1000)") || !strings.Contains(js.String(), `"more": 999001`) {
		t.Errorf("the rest is not counted:\n%s", text.String())
	}
	for _, d := range r.Details {
		if len(d) > finding.MaxValue+finding.MaxMessage+200 {
			t.Fatalf("a detail of %d bytes", len(d))
		}
	}
}

// Names and values from haproxy.cfg are clipped in the details and the
// summary alike.
func TestHAProxyEchoesAreClipped(t *testing.T) {
	long := strings.Repeat("n", 1<<20)
	hc := parseHA(t, "frontend "+long, "    bind "+long+":80", "    bind 10.99.0.1:80")
	r := HAProxy(hc, pfx("10.20.0.128/26"), sysWith(nil, nil))
	wantResult(t, r, Fail, "would fail to bind")
	for _, s := range append(r.Details, r.Summary) {
		if len(s) > 3*finding.MaxMessage {
			t.Errorf("%d bytes: %.100s...", len(s), s)
		}
	}
}
