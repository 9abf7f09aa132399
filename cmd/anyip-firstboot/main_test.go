package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
	"github.com/anyip/anyip/internal/state"
)

// box is one appliance under test: a network namespace standing for the
// VM, and temp paths standing for /etc/vmware, /var/lib/anyip and
// /etc/resolv.conf.
type box struct {
	t                                 *testing.T
	ns                                *netnstest.NS
	dir, cfg, state, resolvConf, root string
}

func newBox(t *testing.T) *box {
	t.Helper()
	dir := t.TempDir()
	b := &box{
		t: t, ns: netnstest.New(t), dir: dir,
		cfg:        filepath.Join(dir, "etc", "vmware", "anyip-routes.cfg"),
		state:      filepath.Join(dir, "state"),
		resolvConf: filepath.Join(dir, "resolv.conf"),
		// The network's files (networkd, host name, resolver) go here,
		// never to this machine's /etc.
		root: filepath.Join(dir, "root"),
	}
	if err := os.WriteFile(b.resolvConf, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	e2etest.SeedRoot(t, b.root)
	return b
}

// roleNICs gives the box a NIC of each role's name, as the appliance image
// names them from their PCI slots, each linked to a peer namespace.
func (b *box) roleNICs(roles ...string) {
	b.t.Helper()
	peer := netnstest.New(b.t)
	for _, r := range roles {
		b.ns.Veth(b.t, r, "", peer, "p-"+r, "")
	}
}

type result = e2etest.Result

// run runs anyip-firstboot in the box with the environment and extra flags.
func (b *box) run(p e2etest.Props, extra ...string) result {
	b.t.Helper()
	env := p.WriteEnv(b.t, b.t.TempDir())
	args := append([]string{"--ovf-env", env, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root}, extra...)
	return b.exec(args...)
}

func (b *box) exec(args ...string) result {
	b.t.Helper()
	return e2etest.Exec(b.t, b.ns.Command(e2etest.Binary(b.t, "anyip-firstboot"), args...))
}

// routes returns the table-local routes carrying our protocol, as
// "local PREFIX" strings, read with iproute2 rather than our own code.
func (b *box) routes() []string {
	b.t.Helper()
	return b.ns.LocalRoutes(b.t, "241")
}

func (b *box) readCfg() string {
	b.t.Helper()
	data, err := os.ReadFile(b.cfg)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	if err != nil {
		b.t.Fatal(err)
	}
	return string(data)
}

func (b *box) want(r result, code int) { b.t.Helper(); e2etest.WantCode(b.t, r, code) }

func TestGoodDeployments(t *testing.T) {
	for _, c := range []struct {
		name   string
		props  e2etest.Props
		routes []string
	}{
		{"2-NIC", e2etest.Base2NIC(), []string{"10.20.0.128/26"}},
		{"3-NIC", e2etest.Base3NIC(), []string{"10.30.0.128/26", "10.30.0.192/27"}},
		{"IPv6", e2etest.Base2NIC().With(
			"network.workload_ip", "fd00:20::5/64",
			"network.workload_gateway", "fd00:20::1",
			"loadbalance.service_ip_range", "fd00:20::1:0/112, 10.10.0.128/27"),
			[]string{"10.10.0.128/27", "fd00:20::1:0/112"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBox(t)
			r := b.run(c.props)
			b.want(r, 0)
			e2etest.WantRoutes(t, b.routes(), c.routes...)
			cfg := b.readCfg()
			for _, rt := range c.routes {
				if !strings.Contains(cfg, "\n"+rt+"\n") {
					t.Errorf("cfg lacks line %s:\n%s", rt, cfg)
				}
			}
			st, err := os.Stat(b.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o644 {
				t.Errorf("cfg mode %v, want 0644", st.Mode().Perm())
			}
			if _, err := os.Stat(filepath.Join(b.state, "firstboot.yaml")); err != nil {
				t.Errorf("no state record: %v", err)
			}
		})
	}
}

// Each invalid configuration exits 1, names the key and the conflicting
// address, and changes nothing: no file, no route.
func TestInvalidConfigurations(t *testing.T) {
	base := e2etest.Base2NIC()
	for _, c := range []struct {
		name  string
		props e2etest.Props
		want  []string // substrings of the output
	}{
		{"range contains the gateway", base.With("loadbalance.service_ip_range", "10.20.0.0/27"),
			[]string{"loadbalance.service_ip_range", "10.20.0.1", "network.workload_gateway"}},
		{"range contains a nameserver", base.With("loadbalance.service_ip_range", "10.10.0.48/28"),
			[]string{"10.10.0.53", "network.nameservers"}},
		{"range contains the appliance's own IP", base.With("loadbalance.service_ip_range", "10.20.0.4/30"),
			[]string{"10.20.0.5", "network.workload_ip"}},
		{"overlapping ranges", base.With("loadbalance.service_ip_range", "10.20.0.128/26, 10.20.0.160/27"),
			[]string{"10.20.0.160/27 overlaps 10.20.0.128/26"}},
		{"typo", base.With("loadbalance.service_ip_range", "10.20.0.300/26"),
			[]string{"loadbalance.service_ip_range", "10.20.0.300/26"}},
		{"everything", base.With("loadbalance.service_ip_range", "0.0.0.0/0"),
			[]string{"0.0.0.0/0", "every address"}},
		{"host bits set", base.With("loadbalance.service_ip_range", "10.20.0.150/26"),
			[]string{"did you mean 10.20.0.128/26?"}},
		{"overlaps an additional workload network", base.With("network.additional_workload_networks", "10.20.0.128/25"),
			[]string{"network.additional_workload_networks", "10.20.0.128/26"}},
		// A static IP no address reads from: a range might hold the
		// appliance's own address (one without its prefix length is
		// still checked against, and the ranges apply: network_test.go).
		{"bad static IP", base.With("network.management_ip", "mgmt-ip"),
			[]string{"network.management_ip", "CIDR", "ranges: refused (they cannot be checked against the appliance's management address while network.management_ip is invalid)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBox(t)
			r := b.run(c.props)
			b.want(r, 1)
			for _, w := range c.want {
				if !strings.Contains(r.Stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.Stdout)
				}
			}
			if !strings.Contains(r.Stdout, "nothing was changed") {
				t.Errorf("output does not say nothing was changed:\n%s", r.Stdout)
			}
			if cfg := b.readCfg(); cfg != "" {
				t.Errorf("invalid run wrote the cfg:\n%s", cfg)
			}
			e2etest.WantRoutes(t, b.routes())
		})
	}
}

func TestMalformedEnvironment(t *testing.T) {
	b := newBox(t)
	env := filepath.Join(t.TempDir(), "env.xml")
	os.WriteFile(env, []byte(`<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1"><PropertySection>`), 0o600)
	r := b.exec("--ovf-env", env, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root)
	b.want(r, 1)
	if !strings.Contains(r.Stdout, "malformed") {
		t.Errorf("output does not call the environment malformed:\n%s", r.Stdout)
	}
	if b.readCfg() != "" {
		t.Error("cfg written")
	}
}

// An address the system already holds (here: one a DHCP server might have
// handed out, on a veth standing for a NIC) must keep a range off it.
func TestObservedAddressInRange(t *testing.T) {
	b := newBox(t)
	peer := netnstest.New(t)
	b.ns.Veth(t, "eth1", "10.20.0.150/24", peer, "p1", "10.20.0.1/24")
	r := b.run(e2etest.Base2NIC())
	b.want(r, 1)
	for _, w := range []string{"10.20.0.150", "eth1"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, r.Stdout)
		}
	}
	e2etest.WantRoutes(t, b.routes())
}

func TestObservedGatewayAndResolver(t *testing.T) {
	b := newBox(t)
	peer := netnstest.New(t)
	b.ns.Veth(t, "eth0", "10.50.0.5/24", peer, "p0", "10.50.0.1/24")
	b.ns.Run(t, "ip", "route", "add", "default", "via", "10.50.0.1")
	os.WriteFile(b.resolvConf, []byte("# from DHCP\nnameserver 10.60.0.53\n"), 0o644)

	r := b.run(e2etest.Base2NIC().With("loadbalance.service_ip_range", "10.50.0.0/28, 10.60.0.48/28"))
	b.want(r, 1)
	for _, w := range []string{"10.50.0.1", "default gateway", "10.60.0.53", b.resolvConf} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("output lacks %q:\n%s", w, r.Stdout)
		}
	}
}

func TestSecondRunIsANoOp(t *testing.T) {
	b := newBox(t)
	p := e2etest.Base3NIC()
	b.want(b.run(p), 0)
	cfg1, routes1 := b.readCfg(), b.routes()
	st1, _ := os.Stat(b.cfg)

	r := b.run(p)
	b.want(r, 0)
	if !strings.Contains(r.Stdout, "nothing to do") {
		t.Errorf("second run did not report a no-op:\n%s", r.Stdout)
	}
	st2, _ := os.Stat(b.cfg)
	if b.readCfg() != cfg1 || !st2.ModTime().Equal(st1.ModTime()) {
		t.Error("second run rewrote the cfg")
	}
	e2etest.WantRoutes(t, b.routes(), routes1...)

	// --force re-applies: same bytes, routes unchanged.
	b.want(b.run(p, "--force"), 0)
	if b.readCfg() != cfg1 {
		t.Error("--force changed the cfg bytes")
	}
	e2etest.WantRoutes(t, b.routes(), routes1...)
}

// A run that changes nothing still clears away what killed runs left in
// both directories (their temp files), and nothing of the operator's.
func TestUnchangedRunSweepsStaleTempFiles(t *testing.T) {
	b := newBox(t)
	p := e2etest.Base3NIC()
	b.want(b.run(p), 0)
	dirs := []string{filepath.Dir(b.cfg), b.state}
	stale := []string{
		filepath.Join(dirs[0], ".anyip-routes.cfg.anyip-tmp-4242"),
		filepath.Join(dirs[1], ".firstboot.yaml.anyip-tmp-4242"),
	}
	keep := []string{
		filepath.Join(dirs[0], ".anyip-routes.cfg.tmp-backup"),
		filepath.Join(dirs[0], "anyip-routes.cfg.orig"),
		filepath.Join(dirs[1], ".firstboot.yaml.tmp-old"),
	}
	for _, f := range append(slices.Clone(stale), keep...) {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := b.run(p)
	b.want(r, 0)
	if !strings.Contains(r.Stdout, "nothing to do") {
		t.Fatalf("second run was not a no-op:\n%s", r.Stdout)
	}
	for _, f := range stale {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind (err %v)", f, err)
		}
	}
	for _, f := range keep {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("the operator's %s was removed: %v", f, err)
		}
	}
}

// vCenter adds a range after the operator added one by hand: the next run
// adds the new range, keeps the hand line, and applies all of them.
func TestPropertiesGainARangeWithHandEdit(t *testing.T) {
	b := newBox(t)
	p := e2etest.Base2NIC()
	b.want(b.run(p), 0)
	f, err := os.OpenFile(b.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("# added by the operator\n10.20.0.96/28\n")
	f.Close()

	r := b.run(p.With("loadbalance.service_ip_range", "10.20.0.128/26, 10.20.0.64/28"))
	b.want(r, 0)
	cfg := b.readCfg()
	for _, l := range []string{"# added by the operator\n10.20.0.96/28\n", "\n10.20.0.128/26\n10.20.0.64/28\n"} {
		if !strings.Contains(cfg, l) {
			t.Errorf("cfg lacks %q:\n%s", l, cfg)
		}
	}
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/26", "10.20.0.64/28", "10.20.0.96/28")
	// The record keeps the block (the vApp ranges) apart from the whole
	// file, so check can compare the block with what was written there.
	rec, err := state.Load(b.state)
	if err != nil || rec == nil {
		t.Fatalf("record: %v, %v", rec, err)
	}
	if want := []string{"10.20.0.128/26", "10.20.0.64/28"}; !slices.Equal(rec.Block, want) {
		t.Errorf("record's block %v, want %v", rec.Block, want)
	}
	if want := []string{"10.20.0.64/28", "10.20.0.96/28", "10.20.0.128/26"}; !slices.Equal(rec.Ranges, want) {
		t.Errorf("record's ranges %v, want %v", rec.Ranges, want)
	}

	// vCenter drops a range: its route goes, the hand line's stays.
	b.want(b.run(p.With("loadbalance.service_ip_range", "10.20.0.64/28")), 0)
	e2etest.WantRoutes(t, b.routes(), "10.20.0.64/28", "10.20.0.96/28")
}

// An invalid run after a valid one leaves the file, its mode, the state
// and the routes exactly as they were.
func TestInvalidRunAfterValidChangesNothing(t *testing.T) {
	b := newBox(t)
	p := e2etest.Base2NIC()
	b.want(b.run(p), 0)
	os.Chmod(b.cfg, 0o640)
	cfg, routes := b.readCfg(), b.routes()
	state, _ := os.ReadFile(filepath.Join(b.state, "firstboot.yaml"))

	for _, bad := range []e2etest.Props{
		p.With("loadbalance.service_ip_range", "10.20.0.0/24"),
		p.With("loadbalance.service_ip_range", "10.20.0.128/26, garbage"),
	} {
		b.want(b.run(bad), 1)
		if b.readCfg() != cfg {
			t.Error("invalid run changed the cfg")
		}
		if st, _ := os.Stat(b.cfg); st.Mode().Perm() != 0o640 {
			t.Errorf("cfg mode now %v", st.Mode().Perm())
		}
		if s, _ := os.ReadFile(filepath.Join(b.state, "firstboot.yaml")); !bytes.Equal(s, state) {
			t.Error("invalid run changed the state record")
		}
		e2etest.WantRoutes(t, b.routes(), routes...)
	}
}

// A range key spelt but for case or spacing is the operator's ranges, not
// "no ranges": the run refuses, names both spellings, and leaves the file,
// the routes and the record as they were.
func TestNearMissRangeKeyChangesNothing(t *testing.T) {
	b := newBox(t)
	p := e2etest.Base2NIC()
	b.want(b.run(p), 0)
	cfg, routes := b.readCfg(), b.routes()
	state, _ := os.ReadFile(filepath.Join(b.state, "firstboot.yaml"))
	const key = "loadbalance.service_ip_range"
	for _, spelt := range []string{"LoadBalance.Service_IP_Range", " " + key + " "} {
		bad := p.With(spelt, p[key])
		delete(bad, key)
		r := b.run(bad)
		b.want(r, 1)
		for _, w := range []string{fmt.Sprintf("%q", spelt), fmt.Sprintf("%q", key), "nothing was changed"} {
			if !strings.Contains(r.Stdout, w) {
				t.Errorf("output lacks %s:\n%s", w, r.Stdout)
			}
		}
		if b.readCfg() != cfg {
			t.Error("the run changed the cfg")
		}
		if s, _ := os.ReadFile(filepath.Join(b.state, "firstboot.yaml")); !bytes.Equal(s, state) {
			t.Error("the run changed the state record")
		}
		e2etest.WantRoutes(t, b.routes(), routes...)
	}
}

// A bad line the operator added by hand is named with its line number; the
// run changes nothing.
func TestBadHandLine(t *testing.T) {
	b := newBox(t)
	p := e2etest.Base2NIC()
	b.want(b.run(p), 0)
	f, _ := os.OpenFile(b.cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("10.20.0.96/28 # web\n")
	f.Close()
	cfg := b.readCfg()
	line := strings.Count(cfg, "\n")

	r := b.run(p.With("loadbalance.service_ip_range", "10.20.0.128/26, 10.20.0.64/28"))
	b.want(r, 1)
	want := b.cfg + ":" + strconv.Itoa(line)
	if !strings.Contains(r.Stdout, want) || !strings.Contains(r.Stdout, "10.20.0.96/28 # web") {
		t.Errorf("output does not name %s and its text:\n%s", want, r.Stdout)
	}
	if b.readCfg() != cfg {
		t.Error("cfg changed")
	}
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/26")
}

func TestDryRunChangesNothing(t *testing.T) {
	b := newBox(t)
	r := b.run(e2etest.Base3NIC(), "--dry-run")
	b.want(r, 0)
	for _, w := range []string{"+ 10.30.0.128/26", "+ 10.30.0.192/27", "dry run"} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("plan lacks %q:\n%s", w, r.Stdout)
		}
	}
	if b.readCfg() != "" {
		t.Error("dry run wrote the cfg")
	}
	if _, err := os.Stat(b.state); err == nil {
		t.Error("dry run wrote state")
	}
	e2etest.WantRoutes(t, b.routes())
}

func TestJSONOutput(t *testing.T) {
	b := newBox(t)
	r := b.run(e2etest.Base2NIC().With("loadbalance.service_ip_range", "10.20.0.0/27, 10.20.0.150/26"), "--output", "json")
	b.want(r, 1)
	var rep struct {
		Result   string `json:"result"`
		Findings []struct {
			Severity, Where, Value, Message, Hint string
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, r.Stdout)
	}
	if rep.Result != "invalid" {
		t.Errorf("result %q", rep.Result)
	}
	var hints []string
	for _, f := range rep.Findings {
		if f.Severity == "error" && f.Where == "loadbalance.service_ip_range" {
			hints = append(hints, f.Hint)
		}
	}
	if !slices.Contains(hints, "did you mean 10.20.0.128/26?") || len(hints) < 2 {
		t.Errorf("findings %+v", rep.Findings)
	}
}

func TestUsage(t *testing.T) {
	b := newBox(t)
	for _, args := range [][]string{{"--bogus"}, {"--output", "yaml"}, {"extra"}} {
		if r := b.exec(args...); r.Code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, r.Code, r.All())
		}
	}
	r := b.exec("--ovf-env", filepath.Join(b.dir, "missing.xml"), "--config", b.cfg, "--state-dir", b.state, "--root", b.root)
	b.want(r, 3)
}

// The range size limit comes from the environment (the units read
// /etc/default/anyip) unless a flag says otherwise, so a limit raised once
// holds for first boot and the route service alike.
func TestRangeLimitFromEnvironment(t *testing.T) {
	b := newBox(t)
	p := e2etest.Base2NIC().With("network.workload_ip", "10.20.0.5/14", "loadbalance.service_ip_range", "10.22.0.0/15")
	env := p.WriteEnv(t, t.TempDir())
	runEnv := func(vars []string, extra ...string) result {
		args := append([]string{"--ovf-env", env, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false"}, extra...)
		cmd := b.ns.Command(e2etest.Binary(t, "anyip-firstboot"), args...)
		cmd.Env = append(os.Environ(), vars...)
		return e2etest.Exec(t, cmd)
	}
	r := runEnv(nil)
	b.want(r, 1)
	if !strings.Contains(r.Stdout, "largest allowed: /16") {
		t.Errorf("a /15 was not refused for its size:\n%s", r.Stdout)
	}
	b.want(runEnv([]string{"ANYIP_MAX_RANGE=15"}, "--dry-run"), 0)
	b.want(runEnv([]string{"ANYIP_MAX_RANGE=15"}, "--max-range", "16"), 1) // the flag wins
	b.want(runEnv([]string{"ANYIP_MAX_RANGE=wide"}), 2)
	b.want(runEnv([]string{"ANYIP_MAX_RANGE=/15"}), 0)
	e2etest.WantRoutes(t, b.routes(), "10.22.0.0/15")
}
