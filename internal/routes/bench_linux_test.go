package routes

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/netnstest"
)

// BenchmarkReconcile measures Reconcile on /28 IPv4 ranges in a namespace:
// into an empty table, and on a table already in sync. The ip-batch
// sub-benchmark is the reference: `ip -batch` adding the same routes, one
// request and one ack at a time (the practical limit of the shell tools).
func BenchmarkReconcile(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("add-%d", n), func(b *testing.B) {
			_, tbl := openBench(b)
			desired := ranges(n, 0)
			for range b.N {
				b.StopTimer()
				if _, err := tbl.Down(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, res, err := tbl.Reconcile(desired); err != nil || res.Added != n {
					b.Fatalf("Reconcile: %+v, %v", res, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "routes/s")
		})
	}

	b.Run("insync-10000", func(b *testing.B) {
		_, tbl := openBench(b)
		desired := ranges(10000, 0)
		if _, _, err := tbl.Reconcile(desired); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if plan, _, err := tbl.Reconcile(desired); err != nil || !plan.Empty() {
				b.Fatalf("Reconcile: %v, %v", plan, err)
			}
		}
	})

	b.Run("ip-batch-add-10000", func(b *testing.B) {
		ns, tbl := openBench(b)
		var script strings.Builder
		for _, p := range ranges(10000, 0) {
			fmt.Fprintf(&script, "route add local %s dev lo table local proto %d\n", p, Protocol)
		}
		file := filepath.Join(b.TempDir(), "batch")
		if err := os.WriteFile(file, []byte(script.String()), 0o644); err != nil {
			b.Fatal(err)
		}
		for range b.N {
			b.StopTimer()
			if _, err := tbl.Down(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			// ip -n switches namespace itself: no `ip netns exec` cost.
			if out, err := exec.Command("ip", "-n", ns.Name, "-batch", file).CombinedOutput(); err != nil {
				b.Fatalf("ip -batch: %v\n%s", err, out)
			}
		}
		b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "routes/s")
	})
}

func openBench(b *testing.B) (*netnstest.NS, *Table) {
	b.Helper()
	ns := netnstest.New(b)
	tbl, err := OpenAt(ns.Handle)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { tbl.Close() })
	return ns, tbl
}
