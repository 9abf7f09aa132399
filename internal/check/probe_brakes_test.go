package check

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/probe"
)

// Only ranges that pass the safety check are probed: a /8, the whole
// address space, loopback and multicast are refused there, and never
// asked about on the link.
func TestProbeOnlySafeRanges(t *testing.T) {
	f := mustCfg(t, "10.0.0.0/8", "0.0.0.0/0", "127.0.0.0/30", "224.0.0.0/30", "ff02::/120", "10.20.0.192/26")
	res, unsafe := safety(f, facts(), 16, 48)
	wantResult(t, res, Fail, "5 errors, 4 warnings (errors first)")
	plan := PlanProbes(f.Prefixes(), facts(), 100_000_000, unsafe)
	total := 0
	for _, p := range plan {
		total += len(p.Addrs)
		safe := p.Range == netip.MustParsePrefix("10.20.0.192/26")
		if safe != (len(p.Addrs) > 0) || safe != (p.Skip == "") {
			t.Errorf("%s: %d addresses planned, skip %q", p.Range, len(p.Addrs), p.Skip)
		}
	}
	if total != 64 {
		t.Errorf("%d addresses planned, want the 64 of 10.20.0.192/26", total)
	}
	r := Probe(t.Context(), plan, silent(t))
	wantResult(t, r, Warn, "no other host answered for 64 addresses on eth0", "10.0.0.0/8: not probed: it fails the safety check", "127.0.0.0/30: not probed: it fails the safety check")
	if !strings.Contains(r.Hint, "fix the ranges the safety check names") {
		t.Errorf("hint %q", r.Hint)
	}

	r = Probe(t.Context(), PlanProbes(pfx("0.0.0.0/0"), facts(), 16, func(netip.Prefix) bool { return true }), silent(t))
	wantResult(t, r, Warn, "nothing probed: the ranges fail the safety check")
}

// silent is a link where nobody answers.
func silent(t *testing.T) Prober {
	none := func(_ context.Context, _ string, targets []netip.Addr, _ probe.Options) ([]probe.Reply, error) {
		if len(targets) > MaxProbeTotal {
			t.Errorf("one probe run of %d addresses", len(targets))
		}
		return nil, nil
	}
	return Prober{ARP: none, NDP: none}
}

// --probe-limit is capped per range, and a run probes at most
// MaxProbeTotal addresses in all, given to the ranges in order.
func TestProbeCaps(t *testing.T) {
	plan := PlanProbes(pfx("10.0.0.0/8"), facts(), 100_000_000, nil)
	if len(plan) != 1 || len(plan[0].Addrs) != MaxProbeLimit || !plan[0].Truncated {
		t.Fatalf("a /8 with a limit of 10^8: %d addresses planned, want %d", len(plan[0].Addrs), MaxProbeLimit)
	}

	plan = PlanProbes(pfx("10.40.0.0/17", "10.41.0.0/16", "10.42.0.0/24", "fd00:20::1:0/120"), facts(), MaxProbeLimit, nil)
	got := map[string]int{}
	total := 0
	for _, p := range plan {
		got[p.Range.String()] = len(p.Addrs)
		total += len(p.Addrs)
	}
	want := map[string]int{"10.40.0.0/17": 1 << 15, "10.41.0.0/16": 1 << 15, "10.42.0.0/24": 0, "fd00:20::1:0/120": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) || total != MaxProbeTotal {
		t.Errorf("planned %v (%d), want %v", got, total, want)
	}
	r := Probe(t.Context(), plan, silent(t))
	wantResult(t, r, Warn, fmt.Sprintf("no other host answered for %d addresses", MaxProbeTotal),
		fmt.Sprintf("10.41.0.0/16: probed the first 32768 of its 65536 addresses (a run probes at most %d)", MaxProbeTotal),
		fmt.Sprintf("10.42.0.0/24: not probed: the run's probes (at most %d) went to the ranges before it", MaxProbeTotal))
	if !strings.Contains(r.Hint, "lower --probe-limit") {
		t.Errorf("hint %q", r.Hint)
	}
}

// Ctrl-C during the probe: the report says it was interrupted, not that
// the check needs root; what was heard by then still counts.
func TestProbeInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	started := make(chan struct{})
	pr := Prober{ARP: func(ctx context.Context, iface string, targets []netip.Addr, _ probe.Options) ([]probe.Reply, error) {
		close(started)
		<-ctx.Done()
		return nil, fmt.Errorf("probe: %s: %w", iface, ctx.Err())
	}}
	go func() {
		<-started
		cancel()
	}()
	r := Probe(ctx, PlanProbes(pfx("10.20.0.192/26"), facts(), 1024, nil), pr)
	wantResult(t, r, Error, "interrupted after")
	if strings.Contains(r.Hint, "root") || strings.Contains(strings.Join(r.Details, " "), "context canceled") {
		t.Errorf("hint %q, details %q", r.Hint, r.Details)
	}

	// The checks that talk to the system after an interruption are not
	// run, and one cut short is not taken for an answer.
	r = unlessInterrupted(ctx, NameVIP, func() Result { return Result{Name: NameVIP, Status: Fail, Summary: "connection refused"} })
	wantResult(t, r, Error, "interrupted")
	ctx2, cancel2 := context.WithCancel(t.Context())
	r = unlessInterrupted(ctx2, NameService, func() Result {
		cancel2()
		return Result{Name: NameService, Status: Warn, Summary: "systemctl did not answer"}
	})
	wantResult(t, r, Error, "interrupted")
}
