package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
)

// manyRanges returns n /28 ranges inside the workload network 10.20.0.0/14,
// starting at offset (in /28 blocks) from 10.21.0.0.
func manyRanges(n, offset int) []string {
	out := make([]string, n)
	for i := range out {
		a := (offset + i) * 16
		out[i] = fmt.Sprintf("10.%d.%d.%d/28", 21+a>>16, a>>8&255, a&255)
	}
	return out
}

func bigProps(ranges []string) e2etest.Props {
	return e2etest.Base2NIC().With(
		"network.workload_ip", "10.20.0.5/14",
		"loadbalance.service_ip_range", strings.Join(ranges, ", "))
}

// SIGKILL first boot at random moments while it moves the appliance from
// one large range set to another; whatever state the kill leaves, the next
// complete run converges to exactly the wanted ranges and file.
func TestKilledFirstBootIsRepairedByTheNextRun(t *testing.T) {
	b := newBox(t)
	setA, setB := manyRanges(3000, 0), manyRanges(3000, 1500) // half shared
	propsA, propsB := bigProps(setA), bigProps(setB)
	envA, envB := propsA.WriteEnv(t, t.TempDir()), propsB.WriteEnv(t, t.TempDir())
	args := func(env string) []string {
		return []string{"--ovf-env", env, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false"}
	}

	// How long does a full switch take? Kill points are drawn inside it.
	b.want(b.exec(args(envA)...), 0)
	start := time.Now()
	b.want(b.exec(args(envB)...), 0)
	full := time.Since(start)
	wantB := sorted(setB)
	e2etest.WantRoutes(t, b.routes(), wantB...)
	cfgB := b.readCfg()

	rng := rand.New(rand.NewPCG(1, 2))
	wantA := sorted(setA)
	// Kills that land before or after the route changes prove little, so
	// keep drawing until enough land in the middle (bounded).
	killed, midway, i := 0, 0, 0
	for ; i < 100 && (i < 25 || midway < 3); i++ {
		// Toward A, killed somewhere on the way; then B to completion.
		cmd := b.ns.Command(e2etest.Binary(t, "anyip-firstboot"), args(envA)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(full) + 1)))
		// ip netns exec execs the command in place, so this is our process.
		if cmd.Process.Signal(syscall.SIGKILL) == nil {
			killed++
		}
		cmd.Wait()
		if got := b.routes(); !slices.Equal(got, wantA) && !slices.Equal(got, wantB) {
			midway++
		}

		r := b.exec(args(envB)...)
		b.want(r, 0)
		if got := b.routes(); !slices.Equal(got, wantB) {
			t.Fatalf("trial %d: after the repair run the table has %d of our routes, want exactly the %d of set B", i, len(got), len(wantB))
		}
		if got := b.readCfg(); got != cfgB {
			t.Fatalf("trial %d: after the repair run the cfg differs from a clean run's", i)
		}
		for _, dir := range []string{filepath.Dir(b.cfg), b.state} {
			if tmp, _ := filepath.Glob(filepath.Join(dir, ".*.anyip-tmp-*")); len(tmp) > 0 {
				t.Fatalf("trial %d: temp files left behind: %v", i, tmp)
			}
		}
	}
	t.Logf("%d trials, %d killed, %d left the table between the two sets (a full switch takes %v)", i, killed, midway, full)
	if midway == 0 {
		t.Fatal("no kill landed while routes were being changed; the test proved nothing")
	}
}

// A reader polling the cfg while first boot rewrites it, again and again,
// only ever sees a whole old or a whole new file.
func TestReaderSeesWholeFiles(t *testing.T) {
	b := newBox(t)
	propsA, propsB := bigProps(manyRanges(500, 0)), bigProps(manyRanges(500, 7))
	envA, envB := propsA.WriteEnv(t, t.TempDir()), propsB.WriteEnv(t, t.TempDir())
	run := func(env string) {
		b.want(b.exec("--ovf-env", env, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false"), 0)
	}
	run(envA)
	cfgA := b.readCfg()
	run(envB)
	cfgB := b.readCfg()
	if cfgA == cfgB {
		t.Fatal("the two property sets render the same file")
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads, torn int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			data, err := os.ReadFile(b.cfg)
			if err != nil {
				torn++ // the file must never be missing either
				continue
			}
			reads++
			if s := string(data); s != cfgA && s != cfgB {
				torn++
			}
		}
	}()
	for i := 0; i < 20; i++ {
		run(envA)
		run(envB)
	}
	cancel()
	wg.Wait()
	if reads == 0 {
		t.Fatal("the reader never read the file")
	}
	if torn > 0 {
		t.Fatalf("%d of %d reads saw a file that was neither the old nor the new one", torn, reads)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
