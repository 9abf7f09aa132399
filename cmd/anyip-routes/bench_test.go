package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
	"github.com/anyip/anyip/internal/routes"
)

// BenchmarkUp times the built `anyip-routes up` in a network namespace
// against the baselines of issue 3, on /28 ranges: ip -batch adding the
// same routes, the old appliance's per-range shell loop, and up on a table
// already in sync. Every contender runs under `ip netns exec`. Each
// sub-benchmark reports the median time of both sides in ms and their
// ratio (ns/op is suppressed: an op runs both sides). scripts/bench.sh
// (make bench) prints the same comparison as a table.
//
//	go test -run '^$' -bench Up ./cmd/anyip-routes/
func BenchmarkUp(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("vs-ip-batch-%d", n), func(b *testing.B) {
			e := newBenchEnv(b, n)
			e.compare(b, "up", e.up, e.reset, "ip-batch", e.batch, e.reset)
		})
	}
	b.Run("insync-vs-ip-batch-10000", func(b *testing.B) {
		e := newBenchEnv(b, 10000)
		sync := func() { e.reset(); e.up() }
		e.compare(b, "up-insync", e.up, sync, "ip-batch", e.batch, e.reset)
	})
	b.Run("shell-loop-vs-up-1000", func(b *testing.B) {
		e := newBenchEnv(b, 1000)
		e.compare(b, "shell-loop", e.shellLoop, e.reset, "up", e.up, e.reset)
	})
}

type benchEnv struct {
	b                           testing.TB
	n                           int
	ns                          *netnstest.NS
	tbl                         *routes.Table
	bin, cfg, batchFile, script string
	resolvConf                  string
}

func newBenchEnv(b *testing.B, n int) *benchEnv {
	b.Helper()
	dir := b.TempDir()
	e := &benchEnv{b: b, n: n, ns: netnstest.New(b), bin: e2etest.Binary(b, "anyip-routes"),
		cfg: filepath.Join(dir, "ranges.cfg"), batchFile: filepath.Join(dir, "batch"),
		script: filepath.Join(dir, "shell-loop.sh"), resolvConf: filepath.Join(dir, "resolv.conf")}
	tbl, err := routes.OpenAt(e.ns.Handle)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tbl.Close() })
	e.tbl = tbl
	var cfg, batch strings.Builder
	for _, p := range benchRanges(n) {
		fmt.Fprintln(&cfg, p)
		// Our protocol, so that reset (Down) clears these too.
		fmt.Fprintf(&batch, "route add local %s dev lo table local proto %d\n", p, routes.Protocol)
	}
	// The old appliance's loop: a fork of ip and grep per range.
	loop := `while IFS= read -r range; do
	[ -z "$range" ] && continue
	ip route show table local | grep -q "$range" || ip route add local $range dev lo proto 241
done <"$1"
`
	for path, data := range map[string]string{e.cfg: cfg.String(), e.batchFile: batch.String(), e.script: loop, e.resolvConf: ""} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// benchRanges returns n consecutive /28s from 10.64.0.0.
func benchRanges(n int) []netip.Prefix {
	ps := make([]netip.Prefix, n)
	a := netip.MustParseAddr("10.64.0.0").As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	for i := range ps {
		x := v + uint32(16*i)
		ps[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)}), 28)
	}
	return ps
}

func (e *benchEnv) run(name string, args ...string) {
	if out, err := e.ns.Command(name, args...).CombinedOutput(); err != nil {
		e.b.Fatalf("%s %s: %v\n%.2000s", name, strings.Join(args, " "), err, out)
	}
}

func (e *benchEnv) up() {
	e.run(e.bin, "--config", e.cfg, "--resolv-conf", e.resolvConf, "up")
}
func (e *benchEnv) batch()     { e.run("ip", "-batch", e.batchFile) }
func (e *benchEnv) shellLoop() { e.run("bash", e.script, e.cfg) }

// reset empties the table of our routes (the baselines use our protocol
// too).
func (e *benchEnv) reset() {
	if _, err := e.tbl.Down(); err != nil {
		e.b.Fatal(err)
	}
}

// check makes sure a contender did the work.
func (e *benchEnv) check(what string) {
	cur, err := e.tbl.List()
	if err != nil {
		e.b.Fatal(err)
	}
	if len(cur.Ours) != e.n {
		e.b.Fatalf("%s left %d routes, want %d", what, len(cur.Ours), e.n)
	}
}

// compare times a and bb, each after its own untimed preparation, b.N
// times, and reports the medians and a/bb.
func (e *benchEnv) compare(b *testing.B, aName string, a, aPrep func(), bName string, bb, bPrep func()) {
	var ta, tb []time.Duration
	for range b.N {
		b.StopTimer()
		aPrep()
		b.StartTimer()
		t0 := time.Now()
		a()
		ta = append(ta, time.Since(t0))
		b.StopTimer()
		e.check(aName)
		bPrep()
		b.StartTimer()
		t0 = time.Now()
		bb()
		tb = append(tb, time.Since(t0))
		b.StopTimer()
		e.check(bName)
		b.StartTimer()
	}
	ma, mb := median(ta), median(tb)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(ma)/1e6, aName+"-ms")
	b.ReportMetric(float64(mb)/1e6, bName+"-ms")
	b.ReportMetric(float64(ma)/float64(mb), aName+"/"+bName)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
