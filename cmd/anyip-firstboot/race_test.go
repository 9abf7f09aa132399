package main

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
	"github.com/anyip/anyip/internal/state"
)

// otherRoutes is every route of ns but ours in table local, both
// families, all tables, as iproute2 prints them (without IPv6 link-local
// and multicast routes, which come and go with a veth's address
// detection).
func otherRoutes(t *testing.T, ns *netnstest.NS) []string {
	t.Helper()
	var out []string
	for _, fam := range []string{"-4", "-6"} {
		for _, l := range strings.Split(ns.Run(t, "ip", fam, "route", "show", "table", "all"), "\n") {
			f := strings.Fields(l)
			ours := len(f) > 0 && f[0] == "local" && slices.Contains(f, "lo") && strings.Contains(l, "table local") &&
				(strings.Contains(l, "proto anyip") || strings.Contains(l, "proto 241"))
			if len(f) == 0 || ours || strings.HasPrefix(l, "fe80:") || strings.HasPrefix(l, "ff00:") || strings.Contains(l, " fe80::") {
				continue
			}
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

// fileRanges is the ranges of the box's cfg, as sorted strings.
func (b *box) fileRanges() []string {
	b.t.Helper()
	f, fs := cfgfile.Parse(b.cfg, []byte(b.readCfg()))
	if fs.HasErrors() {
		b.t.Fatalf("the cfg does not parse: %v", fs)
	}
	var out []string
	for _, p := range f.Prefixes() {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

// The trial: first boot and `anyip-routes up` started together, and two
// first boots (of different properties) started together, 50 rounds each,
// with routes of other owners in the table. Whatever order the runs take,
// when they are done the table holds exactly the ranges of the file as
// they left it, the record of the last run names those ranges, and every
// other route is as it was. Without the run lock an `up` that read the old
// file applies it after first boot applied the new one, and two first
// boots each apply what they read.
func TestConcurrentRunsConverge(t *testing.T) {
	b := newBox(t)
	b.ns.Veth(t, "eth0", "", b.ns, "eth0-peer", "")
	for _, args := range [][]string{
		{"route", "add", "local", "10.99.0.0/24", "dev", "lo"}, // the old service's, for a range no file has
		{"route", "add", "10.98.0.0/24", "dev", "eth0", "table", "local", "proto", "static"},
		{"route", "add", "local", "10.97.0.0/24", "dev", "lo", "table", "100", "proto", "241"},
		{"-6", "route", "add", "local", "fd00:99::/64", "dev", "lo", "proto", "static"},
	} {
		b.ns.Run(t, "ip", args...)
	}
	foreign := otherRoutes(t, b.ns)

	setA, setB := manyRanges(500, 0), manyRanges(500, 250) // half shared
	envs := []string{bigProps(setA).WriteEnv(t, t.TempDir()), bigProps(setB).WriteEnv(t, t.TempDir())}
	firstboot := func(env string) *exec.Cmd {
		return b.ns.Command(e2etest.Binary(t, "anyip-firstboot"), "--ovf-env", env, "--config", b.cfg,
			"--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false")
	}
	up := func() *exec.Cmd {
		return b.ns.Command(e2etest.Binary(t, "anyip-routes"), "--config", b.cfg, "--resolv-conf", b.resolvConf, "up")
	}
	b.want(b.exec("--ovf-env", envs[1], "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false"), 0)
	// How long a switch from one set to the other takes: in odd rounds
	// the second command starts somewhere inside it, so that its reading
	// of the file falls before, during or after the first's writing.
	start := time.Now()
	b.want(b.exec("--ovf-env", envs[0], "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false"), 0)
	full := time.Since(start)
	rng := rand.New(rand.NewPCG(5, 50))

	const rounds = 50
	trial := func(name string, cmds func(i int) []*exec.Cmd) {
		failed := 0
		for i := range rounds {
			cs := cmds(i)
			outs := make([]strings.Builder, len(cs))
			var wg sync.WaitGroup
			for k, c := range cs {
				c.Stdout, c.Stderr = &outs[k], &outs[k]
				if k > 0 && i%2 == 1 { // even rounds: both at once
					time.Sleep(time.Duration(rng.Int64N(int64(full) + 1)))
				}
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
			}
			for k, c := range cs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := c.Wait(); err != nil {
						t.Errorf("%s round %d: %s: %v\n%s", name, i, commandName(c), err, outs[k].String())
					}
				}()
			}
			wg.Wait()

			file, table := b.fileRanges(), b.routes()
			rec, err := state.Load(b.state)
			switch {
			case err != nil || rec == nil:
				t.Errorf("%s round %d: no record of the last run: %v", name, i, err)
				failed++
			case !slices.Equal(table, file):
				t.Errorf("%s round %d: the table holds %d ranges of ours, %d of them not in the file of %d", name, i, len(table), countNotIn(table, file), len(file))
				failed++
			case !slices.Equal(sorted(rec.Ranges), file) || rec.Result != "ok":
				t.Errorf("%s round %d: the record (%s, %d ranges) is not of the file (%d ranges)", name, i, rec.Result, len(rec.Ranges), len(file))
				failed++
			}
			if got := otherRoutes(t, b.ns); !slices.Equal(got, foreign) {
				t.Fatalf("%s round %d: routes of other owners changed:\nbefore\n%s\nafter\n%s", name, i, strings.Join(foreign, "\n"), strings.Join(got, "\n"))
			}
		}
		t.Logf("%s: %d of %d rounds converged (in odd rounds the second started within %v of the first)", name, rounds-failed, rounds, full)
	}

	trial("first boot and up", func(i int) []*exec.Cmd {
		return []*exec.Cmd{firstboot(envs[i%2]), up()}
	})
	trial("two first boots", func(i int) []*exec.Cmd {
		return []*exec.Cmd{firstboot(envs[i%2]), firstboot(envs[(i+1)%2])}
	})

	if left, _ := os.ReadDir(b.state); len(left) != 1 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("the state directory holds %v, want the record alone", names)
	}
}

func countNotIn(a, b []string) int {
	n := 0
	for _, s := range a {
		if !slices.Contains(b, s) {
			n++
		}
	}
	return n
}

// commandName is the anyip command c runs.
func commandName(c *exec.Cmd) string {
	for _, a := range c.Args {
		if strings.HasPrefix(filepath.Base(a), "anyip-") {
			return filepath.Base(a)
		}
	}
	return c.Path
}
