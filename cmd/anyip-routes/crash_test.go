package main

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/routes"
)

// Crash safety: anyip-routes is SIGKILLed while it moves the table from
// one large range set to another. Whatever the kill leaves behind, the
// next run (up, or the restarted service) brings the table to exactly what
// the file says, and routes of other owners are never touched.

// crashRanges returns n /28 ranges, starting offset /28 blocks into
// 10.21.0.0/16 and onwards: 8,000 of them span 10.21.0.0-10.22.244.255.
func crashRanges(n, offset int) []string {
	out := make([]string, n)
	for i := range out {
		a := (offset + i) * 16
		out[i] = fmt.Sprintf("10.%d.%d.%d/28", 21+a>>16, a>>8&255, a&255)
	}
	slices.Sort(out)
	return out
}

// crashSets are the two sets a crash test switches between: 8,000 ranges
// each, half of them shared, so a switch adds 4,000 routes and removes
// 4,000.
func crashSets() (a, b []string) {
	const n = 8000
	return crashRanges(n, 0), crashRanges(n, n/2)
}

// addForeign puts routes of other owners into table local, outside both
// sets: what the old shell service left (proto boot) and a hand-made
// proto static route. It returns the foreign lines of the table.
func (b *box) addForeign() []string {
	b.t.Helper()
	b.ip("route", "add", "local", "10.70.0.0/28", "dev", "lo")                     // proto boot
	b.ip("route", "add", "local", "10.70.0.16/28", "dev", "lo", "proto", "static") // proto static
	foreign := b.foreign()
	all := strings.Join(foreign, "\n")
	for _, w := range []string{"local 10.70.0.0/28 dev lo", "local 10.70.0.16/28 dev lo proto static"} {
		if !strings.Contains(all, w) {
			b.t.Fatalf("set-up: %q not in table local:\n%s", w, all)
		}
	}
	return foreign
}

// wantTable checks, with iproute2, that our routes are exactly want and
// the foreign ones exactly as they were.
func (b *box) wantTable(what string, want, foreign []string) {
	b.t.Helper()
	if got := b.routes(); !slices.Equal(got, want) {
		extra, missing := setDiff(got, want)
		b.t.Fatalf("%s: %d routes with proto 241, want exactly %d; %d unwanted (first %q), %d missing (first %q)",
			what, len(got), len(want), len(extra), first(extra), len(missing), first(missing))
	}
	if got := b.foreign(); !slices.Equal(got, foreign) {
		b.t.Fatalf("%s: foreign routes changed:\nbefore:\n%s\nafter:\n%s", what, strings.Join(foreign, "\n"), strings.Join(got, "\n"))
	}
}

// setDiff returns what sorted got has beyond sorted want, and what it lacks.
func setDiff(got, want []string) (extra, missing []string) {
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			extra = append(extra, g)
		}
	}
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			missing = append(missing, w)
		}
	}
	return extra, missing
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// between says whether the table holds neither set: the kill landed
// while routes were being changed.
func between(got, a, b []string) bool { return !slices.Equal(got, a) && !slices.Equal(got, b) }

// killedBySIGKILL says whether a waited-for command died of SIGKILL rather
// than finishing first.
func killedBySIGKILL(cmd *exec.Cmd) bool {
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

func (b *box) timeUp(what string) time.Duration {
	b.t.Helper()
	start := time.Now()
	b.want(b.run("up"), 0)
	d := time.Since(start)
	b.t.Logf("%s: %v", what, d)
	return d
}

// SIGKILL `anyip-routes up` at random moments while it switches the table
// from set B to set A; then `up` with set B must exit 0 and leave exactly
// set B. Kills that land before the first or after the last route change
// prove little, so trials go on until several landed in the middle.
func TestKilledUpIsRepairedByTheNextUp(t *testing.T) {
	b := newBox(t)
	setA, setB := crashSets()
	foreign := b.addForeign()

	// How long does a full switch take? Kill points are drawn inside it.
	b.writeCfg(setA...)
	b.timeUp("first up, set A")
	b.writeCfg(setB...)
	full := b.timeUp("switch to set B")
	b.wantTable("clean switch to set B", setB, foreign)

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x616e796970))
	const minTrials, maxTrials, wantMidway = 20, 100, 5
	killed, midway, i := 0, 0, 0
	for ; i < maxTrials && (i < minTrials || midway < wantMidway); i++ {
		b.writeCfg(setA...)
		cmd := b.ns.Command(e2etest.Binary(t, "anyip-routes"), "--config", b.cfg, "--resolv-conf", b.resolvConf, "up")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(full) + 1)))
		// ip netns exec execs the command in place: this is anyip-routes.
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if killedBySIGKILL(cmd) {
			killed++
		}
		if between(b.routes(), setA, setB) {
			midway++
		}

		b.writeCfg(setB...)
		r := b.run("up")
		if r.Code != 0 {
			t.Fatalf("trial %d: up after the kill exited %d, want 0\nstdout (end):\n%s\nstderr:\n%s", i, r.Code, tail(r.Stdout, 2000), r.Stderr)
		}
		b.wantTable(fmt.Sprintf("trial %d: after the repairing up", i), setB, foreign)
	}
	t.Logf("%d trials, %d killed before they finished, %d left the table between the two sets (a full switch takes %v)", i, killed, midway, full)
	if midway == 0 {
		t.Fatal("no kill landed while routes were being changed; the test proved nothing")
	}
}

// SIGKILL `anyip-routes watch` while it reconciles an edit of the file,
// then start it again, sometimes after another edit made while it was
// down: once it says READY=1 the table is exactly what the file says.
func TestKilledWatchConvergesOnRestart(t *testing.T) {
	b := newBox(t)
	setA, setB := crashSets()
	foreign := b.addForeign()

	// How long does the route-changing part of a switch take? Kill
	// points are drawn inside it, counted from the first route change.
	b.writeCfg(setB...)
	b.timeUp("first up, set B")
	noop := b.timeUp("up with nothing to change")
	b.writeCfg(setA...)
	full := b.timeUp("switch to set A")
	b.writeCfg(setB...)
	b.timeUp("switch to set B")
	apply := max(full-noop, 5*time.Millisecond)

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0x7761746368))
	cur, next := setB, setA
	w := b.startWatch()
	trimLog(t, w)
	b.wantTable("service started on set B", cur, foreign)

	const minTrials, maxTrials, wantMidway = 10, 40, 5
	killed, midway, edited, i := 0, 0, 0, 0
	for ; i < maxTrials && (i < minTrials || midway < wantMidway); i++ {
		events := subscribeRouteChanges(t, b)
		b.renameCfg(next...)
		// The service waits for the file to be quiet, then reconciles:
		// the first route event says it has begun.
		waitFirst(t, events)
		events.Close()
		time.Sleep(time.Duration(rng.Int64N(int64(apply) + 1)))
		w.cmd.Process.Signal(syscall.SIGKILL)
		<-w.done
		if killedBySIGKILL(w.cmd) {
			killed++
		}
		if between(b.routes(), cur, next) {
			midway++
		}
		cur, next = next, cur
		if rng.IntN(2) == 0 {
			// The file changes while the service is down.
			b.renameCfg(next...)
			cur, next = next, cur
			edited++
		}

		w = b.startWatch()
		trimLog(t, w)
		b.wantTable(fmt.Sprintf("trial %d: restarted service is READY", i), cur, foreign)
	}
	t.Logf("%d trials, %d killed, %d left the table between the two sets (%d with the file edited while down; the route changes of a switch take about %v)",
		i, killed, midway, edited, apply)
	if midway == 0 {
		t.Fatal("no kill landed while the service was changing routes; the test proved nothing")
	}
}

// trimLog trims what a service logs on a large switch (a line per range)
// to its last lines, should the test fail and print it.
func trimLog(t *testing.T, w *watchProc) {
	t.Cleanup(func() { w.log.KeepTail(8000) })
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// subscribeRouteChanges listens in the box for changes to table local,
// through the route service's own subscription.
func subscribeRouteChanges(t *testing.T, b *box) *routes.Events {
	t.Helper()
	var ev *routes.Events
	err := b.ns.Do(func() error {
		var err error
		ev, err = routes.Subscribe(func(string, ...any) {})
		return err
	})
	if err != nil {
		t.Fatalf("subscribe to route events: %v", err)
	}
	t.Cleanup(func() { ev.Close() })
	return ev
}

// waitFirst waits for the first route change (a dropped event also means
// there were changes).
func waitFirst(t *testing.T, ev *routes.Events) {
	t.Helper()
	select {
	case <-ev.C():
	case <-time.After(10 * time.Second):
		t.Fatal("no route change within 10s of the edit")
	}
}
