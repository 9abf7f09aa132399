package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
)

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

func TestUpAppliesAndTwiceIsANoOp(t *testing.T) {
	b := newBox(t)
	b.writeCfg("# VIP ranges", "10.20.0.128/28", "", "10.20.0.144/28", "fd00:20::1:0/112", "10.20.0.160/27")
	r := b.run("up")
	b.want(r, 0)
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.144/28", "10.20.0.160/27", "fd00:20::1:0/112")
	for _, p := range []string{"10.20.0.128/28", "10.20.0.144/28", "10.20.0.160/27", "fd00:20::1:0/112"} {
		if !strings.Contains(r.Stdout, "added "+p+"\n") {
			t.Errorf("output does not say %s was added:\n%s", p, r.Stdout)
		}
	}
	// The routes are AnyIP routes: type local, scope host, on lo.
	if tbl := b.ip("-4", "route", "show", "table", "local", "10.20.0.128/28"); !strings.Contains(tbl, "local 10.20.0.128/28 dev lo") || !strings.Contains(tbl, "scope host") {
		t.Errorf("route is not an AnyIP route: %q", tbl)
	}
	before := b.table()

	r = b.run("up")
	b.want(r, 0)
	if !strings.Contains(r.Stdout, "nothing changed") || strings.Contains(r.Stdout, "added") || strings.Contains(r.Stdout, "removed") {
		t.Errorf("second up did not report nothing changed:\n%s", r.Stdout)
	}
	if after := b.table(); after != before {
		t.Errorf("second up changed the table:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// A range taken out of the file goes; the others stay.
	b.writeCfg("10.20.0.128/28", "fd00:20::1:0/112")
	r = b.run("up")
	b.want(r, 0)
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "fd00:20::1:0/112")
	if !strings.Contains(r.Stdout, "removed 10.20.0.144/28\n") || !strings.Contains(r.Stdout, "removed 10.20.0.160/27\n") {
		t.Errorf("output does not list the removals:\n%s", r.Stdout)
	}
}

// A file is applied whole or not at all: a bad line anywhere changes
// nothing, and the message names the line, its text and what to do.
func TestUpBadFileChangesNothing(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28")
	b.want(b.run("up"), 0)
	before := b.table()

	for _, c := range []struct {
		name  string
		lines []string
		want  []string
	}{
		{"typo", []string{"10.20.0.128/28", "10.20.0.144/28", "10.20.0.300/28"},
			[]string{b.cfg + ":3", `"10.20.0.300/28"`, "has an IPv4 address in which 300 is more than 255", "an IPv4 address is four numbers from 0 to 255, e.g. 192.168.30.128/26"}},
		{"host bits", []string{"# hand edit", "10.20.0.150/28"},
			[]string{b.cfg + ":2", "10.20.0.150/28", "did you mean 10.20.0.144/28?"}},
		{"two per line", []string{"10.20.0.128/28 10.20.0.144/28"},
			[]string{b.cfg + ":1", "one CIDR on each line"}},
		{"overlap", []string{"10.20.0.128/28", "10.20.0.128/27"},
			[]string{b.cfg + ":2", "overlaps"}},
		{"everything", []string{"0.0.0.0/0"},
			[]string{b.cfg + ":1", "every address"}},
		{"loopback", []string{"127.0.0.0/28"},
			[]string{b.cfg + ":1", "loopback"}},
		{"too large", []string{"10.0.0.0/8"},
			[]string{b.cfg + ":1", "largest allowed: /16"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b.t = t
			b.writeCfg(c.lines...)
			r := b.run("up")
			b.want(r, 1)
			for _, w := range c.want {
				if !strings.Contains(r.Stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.Stdout)
				}
			}
			if !strings.Contains(r.Stdout, "nothing was changed") {
				t.Errorf("output does not say nothing was changed:\n%s", r.Stdout)
			}
			if after := b.table(); after != before {
				t.Errorf("a rejected file changed the table:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		b.t = t
		if err := os.Remove(b.cfg); err != nil {
			t.Fatal(err)
		}
		r := b.run("up")
		b.want(r, 1)
		if want := "error: " + b.cfg + ": the ranges file does not exist (create it with one range (CIDR) a line, or empty for no ranges; `systemctl restart anyip-firstboot` writes it from the vApp properties)\n"; !strings.HasPrefix(r.Stdout, want) {
			t.Errorf("output does not say the file is missing and what to type:\n%s\nwant\n%s", r.Stdout, want)
		}
		if after := b.table(); after != before {
			t.Errorf("a missing file changed the table:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

// The safety net of first boot guards hand edits too: no range may hold
// the default gateway, a name server or an address on an interface.
func TestUpSafetyNet(t *testing.T) {
	b := newBox(t)
	peer := netnstest.New(t)
	b.ns.Veth(t, "eth0", "10.50.0.5/24", peer, "up0", "10.50.0.1/24")
	b.ns.Veth(t, "eth1", "fd00:50::5/64", peer, "up1", "fd00:50::1/64")
	b.ip("route", "add", "default", "via", "10.50.0.1")
	if err := os.WriteFile(b.resolvConf, []byte("search example.internal\nnameserver 10.60.0.53\nnameserver fd00:60::53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.writeCfg("10.50.0.128/28")
	b.want(b.run("up"), 0)
	before := b.table()

	for _, c := range []struct {
		name, line string
		want       []string
	}{
		{"default gateway", "10.50.0.0/30", []string{b.cfg + ":2", "10.50.0.1", "the current default gateway"}},
		{"name server", "10.60.0.48/28", []string{b.cfg + ":2", "10.60.0.53", "a name server in use", b.resolvConf}},
		{"IPv6 name server", "fd00:60::/112", []string{b.cfg + ":2", "fd00:60::53", "a name server in use"}},
		{"address on a veth", "10.50.0.4/30", []string{b.cfg + ":2", "10.50.0.5", "an address already held", "eth0"}},
		{"IPv6 address on a veth", "fd00:50::/112", []string{b.cfg + ":2", "fd00:50::5", "eth1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b.t = t
			b.writeCfg("10.50.0.128/28", c.line)
			r := b.run("up")
			b.want(r, 1)
			for _, w := range c.want {
				if !strings.Contains(r.Stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.Stdout)
				}
			}
			if after := b.table(); after != before {
				t.Errorf("a refused range changed the table:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// Routes of other owners (the kernel's, the old shell service's proto
// boot, proto static) survive up and down; down removes ours only.
func TestForeignRoutesSurviveUpAndDown(t *testing.T) {
	b := newBox(t)
	peer := netnstest.New(t)
	b.ns.Veth(t, "eth0", "10.50.0.5/24", peer, "up0", "10.50.0.1/24")
	b.ip("route", "add", "local", "10.70.0.0/28", "dev", "lo")                     // proto boot
	b.ip("route", "add", "local", "10.70.0.16/28", "dev", "lo", "proto", "static") // proto static
	b.ip("-6", "route", "add", "local", "fd00:70::/64", "dev", "lo")
	b.ip("route", "add", "local", "10.70.0.32/28", "dev", "lo", "table", "100", "proto", "241") // ours in number, not in table local
	foreign := b.foreign()
	for _, w := range []string{"10.70.0.0/28", "10.70.0.16/28", "fd00:70::/64", "10.50.0.5"} {
		if !strings.Contains(strings.Join(foreign, "\n"), w) {
			t.Fatalf("set-up: %s not in table local:\n%s", w, strings.Join(foreign, "\n"))
		}
	}
	other := b.ip("route", "show", "table", "100")

	b.writeCfg("10.20.0.128/28", "fd00:20::/112")
	b.want(b.run("up"), 0)
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "fd00:20::/112")
	if got := b.foreign(); !slices.Equal(got, foreign) {
		t.Errorf("up changed foreign routes:\nbefore:\n%s\nafter:\n%s", strings.Join(foreign, "\n"), strings.Join(got, "\n"))
	}

	r := b.run("down")
	b.want(r, 0)
	e2etest.WantRoutes(t, b.routes())
	if !strings.Contains(r.Stdout, "removed 10.20.0.128/28\n") || !strings.Contains(r.Stdout, "removed fd00:20::/112\n") {
		t.Errorf("down does not list what it removed:\n%s", r.Stdout)
	}
	if got := b.foreign(); !slices.Equal(got, foreign) {
		t.Errorf("down changed foreign routes:\nbefore:\n%s\nafter:\n%s", strings.Join(foreign, "\n"), strings.Join(got, "\n"))
	}
	if got := b.ip("route", "show", "table", "100"); got != other {
		t.Errorf("down touched table 100:\nbefore:\n%s\nafter:\n%s", other, got)
	}

	r = b.run("down")
	b.want(r, 0)
	if !strings.Contains(r.Stdout, "nothing to remove") {
		t.Errorf("second down: %s", r.Stdout)
	}
}

// A file saved with old Mac line ends (bare CR) holds its ranges: read as
// one long comment line it would mean "no ranges", and up would remove
// every route.
func TestUpReadsBareCRLineEnds(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28", "fd00:20::/112")
	b.want(b.run("up"), 0)
	if err := os.WriteFile(b.cfg, []byte("# VIPs\r10.20.0.128/28\rfd00:20::/112\r10.20.0.144/28\r"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := b.run("up")
	b.want(r, 0)
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.144/28", "fd00:20::/112")
	if !strings.Contains(r.Stdout, "added 10.20.0.144/28\n") || strings.Contains(r.Stdout, "removed 10.") {
		t.Errorf("up output:\n%s", r.Stdout)
	}
	// A bad line is named by its number, counting bare CRs as line ends.
	if err := os.WriteFile(b.cfg, []byte("10.20.0.128/28\rbogus\r"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = b.run("up")
	b.want(r, 1)
	if !strings.Contains(r.All(), b.cfg+":2") {
		t.Errorf("the bad line is not named as line 2:\n%s", r.All())
	}
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.144/28", "fd00:20::/112")
}

// A wanted range the old shell service left (proto boot) is adopted: one
// route, now ours, never a moment without one.
func TestUpAdoptsTheOldServicesRoutes(t *testing.T) {
	b := newBox(t)
	b.ip("route", "add", "local", "10.20.0.128/28", "dev", "lo")
	b.writeCfg("10.20.0.128/28", "10.20.0.144/28")
	r := b.run("up")
	b.want(r, 0)
	if !strings.Contains(r.Stdout, "adopted 10.20.0.128/28\n") {
		t.Errorf("output does not say the route was adopted:\n%s", r.Stdout)
	}
	e2etest.WantRoutes(t, b.routes(), "10.20.0.128/28", "10.20.0.144/28")
	if n := strings.Count(b.ip("route", "show", "table", "local", "10.20.0.128/28"), "\n"); n != 1 {
		t.Errorf("%d routes for the adopted range, want 1", n)
	}
}

func TestConfigFileFromEnvironment(t *testing.T) {
	b := newBox(t)
	envCfg := filepath.Join(b.dir, "from-env.cfg")
	if err := os.WriteFile(envCfg, []byte("10.21.0.0/28\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b.writeCfg("10.22.0.0/28")

	r := b.runEnv([]string{"CONFIG_FILE=" + envCfg}, "--resolv-conf", b.resolvConf, "up")
	b.want(r, 0)
	e2etest.WantRoutes(t, b.routes(), "10.21.0.0/28")

	// The flag wins over the environment, and may follow the verb.
	r = b.runEnv([]string{"CONFIG_FILE=" + envCfg}, "up", "--resolv-conf", b.resolvConf, "--config", b.cfg)
	b.want(r, 0)
	e2etest.WantRoutes(t, b.routes(), "10.22.0.0/28")
}

// A usage error is one line on stderr that names the command (and verb)
// and points at its --help, as iproute2 does; with --output json it is a
// JSON object on stdout. --help, help VERB and --version answer on stdout.
func TestUsage(t *testing.T) {
	bin := e2etest.Binary(t, "anyip-routes")
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "anyip-routes: no verb given: up, down, watch, check or help (see anyip-routes --help)\n"},
		{[]string{"start"}, "anyip-routes: unknown verb \"start\": up, down, watch, check or help (see anyip-routes --help)\n"},
		{[]string{"help", "start"}, "anyip-routes: unknown verb \"start\": up, down, watch, check or help (see anyip-routes --help)\n"},
		{[]string{"up", "extra"}, "anyip-routes up: unexpected argument \"extra\" after up (see anyip-routes up --help)\n"},
		{[]string{"--no-such-flag", "up"}, "anyip-routes: unknown flag --no-such-flag (see anyip-routes --help)\n"},
		{[]string{"up", "--no-such-flag"}, "anyip-routes up: unknown flag --no-such-flag (see anyip-routes up --help)\n"},
		{[]string{"up", "-x"}, "anyip-routes up: unknown flag -x (see anyip-routes up --help)\n"},
		{[]string{"up", "--output", "yaml"}, "anyip-routes up: invalid value \"yaml\" for --output: want text or json (see anyip-routes up --help)\n"},
		{[]string{"--output", "yaml", "up"}, "anyip-routes: invalid value \"yaml\" for --output: want text or json (see anyip-routes --help)\n"},
		{[]string{"up", "--output"}, "anyip-routes up: --output needs a value (see anyip-routes up --help)\n"},
		{[]string{"up", "--dry-run=maybe"}, "anyip-routes up: invalid value \"maybe\" for --dry-run: want true or false (see anyip-routes up --help)\n"},
		{[]string{"up", "--max-range", "x"}, "anyip-routes up: invalid value \"x\" for --max-range: want a prefix length (see anyip-routes up --help)\n"},
		{[]string{"--resolv-conf", "/etc/resolv.conf", "down"}, "anyip-routes down: --resolv-conf is not a flag of down (see anyip-routes down --help)\n"},
		{[]string{"down", "--max-range", "20"}, "anyip-routes down: --max-range is not a flag of down (see anyip-routes down --help)\n"},
		{[]string{"--output", "text", "watch"}, "anyip-routes watch: --output is not a flag of watch (see anyip-routes watch --help)\n"},
		{[]string{"--max-range", "0", "up"}, "anyip-routes up: --max-range takes a prefix length from 1 to 32, not 0 (see anyip-routes up --help)\n"},
		{[]string{"down", "--dry-run"}, "anyip-routes down: --dry-run is not a flag of down (see anyip-routes down --help)\n"},
	} {
		cmd := exec.Command(bin, c.args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("anyip-routes %q: %v, want exit 2", c.args, err)
		}
		if stderr.String() != c.want || stdout.Len() != 0 {
			t.Errorf("anyip-routes %q:\nstderr %q\nwant   %q\nstdout %q", c.args, stderr.String(), c.want, stdout.String())
		}
	}
	for _, args := range [][]string{{"up", "--output", "json", "--bogus"}, {"--output", "json", "up", "--bogus"}} {
		out, err := exec.Command(bin, args...).Output()
		if want := "{\n  \"schema\": 1,\n  \"result\": \"usage\",\n  \"error\": \"anyip-routes up: unknown flag --bogus\"\n}\n"; string(out) != want {
			t.Errorf("a usage error with --output json (%q): %v\n%q\nwant %q", args, err, out, want)
		}
	}

	for _, c := range []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"-h"}, []string{"usage: anyip-routes [flags] up|down|watch|check|help [flags]", "Exit status:", "\n  --version ",
			"A verb's flags may come before the verb or after it", "\n  --config PATH ", "\n  --output text|json    report text|json (up, check) (default text)\n"}, []string{"--resync", "--probe"}},
		{[]string{"up", "-h"}, []string{"\n  --max-range N         largest IPv4 range allowed, as a prefix length N\n                        (default 16, or $ANYIP_MAX_RANGE)\n",
			"\n  --max-range6 N        largest IPv6 range allowed, as a prefix length N\n                        (default 48, or $ANYIP_MAX_RANGE6)\n"}, []string{"sets the default) (default"}},
		{[]string{"help", "down"}, []string{"usage: anyip-routes down\n"}, []string{"--config", "--resolv-conf", "--max-range", "--output"}},
		{[]string{"help"}, []string{"usage: anyip-routes [flags] up|down|watch|check|help [flags]"}, nil},
		{[]string{"up", "--help"}, []string{"usage: anyip-routes up [--dry-run] [--output text|json]", "\n  --dry-run ", "\n  --output text|json "}, []string{"--resync", "--haproxy-config"}},
		{[]string{"help", "up"}, []string{"usage: anyip-routes up [--dry-run]"}, nil},
		{[]string{"help", "watch"}, []string{"usage: anyip-routes watch", "\n  --resync DUR "}, []string{"--dry-run"}},
		{[]string{"help", "check"}, []string{"usage: anyip-routes [--config PATH] check", "\n  --probe-limit N "}, []string{"--systemctl"}},
		{[]string{"down", "-h"}, []string{"usage: anyip-routes down"}, []string{"--dry-run", "--max-range", "--resolv-conf"}},
	} {
		cmd := exec.Command(bin, c.args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() != 0 {
			t.Errorf("anyip-routes %q: %v\n%s", c.args, err, stderr.String())
		}
		for _, w := range c.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("anyip-routes %q lacks %q:\n%s", c.args, w, stdout.String())
			}
		}
		for _, n := range append(c.not, "default from", "(default -1)") {
			if strings.Contains(stdout.String(), n) {
				t.Errorf("anyip-routes %q shows %q:\n%s", c.args, n, stdout.String())
			}
		}
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out), "anyip-routes ") || strings.Count(string(out), "\n") != 1 {
		t.Errorf("--version: %v %q", err, out)
	}
}

// up --dry-run says what an edit would change, or what is wrong with it,
// and changes nothing; its JSON has the names first boot's has.
func TestUpDryRun(t *testing.T) {
	b := newBox(t)
	b.writeCfg("10.20.0.128/28", "10.20.0.144/28")
	b.want(b.run("up"), 0)
	before := b.table()

	b.writeCfg("10.20.0.128/28", "10.20.0.160-10.20.0.191")
	r := b.run("up", "--dry-run")
	b.want(r, 0)
	if want := "would be added 10.20.0.160/27\nwould be removed 10.20.0.144/28\ndry run: would be 1 added, 0 adopted, 1 removed, 1 kept, leaving 2 ranges in place; nothing was changed\n"; r.Stdout != want {
		t.Errorf("dry run printed\n%s\nwant\n%s", r.Stdout, want)
	}
	r = b.run("up", "--dry-run", "--output", "json")
	b.want(r, 0)
	want := `{
  "schema": 1,
  "mode": "dry-run",
  "result": "ok",
  "config": "` + b.cfg + `",
  "findings": [],
  "routes": {
    "added": [
      "10.20.0.160/27"
    ],
    "adopted": [],
    "removed": [
      "10.20.0.144/28"
    ],
    "kept": 1,
    "in_place": 2
  }
}
`
	if r.Stdout != want {
		t.Errorf("dry run JSON\n%s\nwant\n%s", r.Stdout, want)
	}
	if after := b.table(); after != before {
		t.Errorf("a dry run changed the table:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// What is wrong with an edit, before the service sees it.
	b.writeCfg("10.20.0.128/28", "10.20.0.10-10.20.0.20")
	r = b.run("up", "--dry-run", "--output", "json")
	b.want(r, 1)
	var rep struct {
		Mode, Result string
		Findings     []struct{ Where, Value, Message, Hint string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatal(err, r.Stdout)
	}
	if rep.Mode != "dry-run" || rep.Result != "invalid" || len(rep.Findings) != 1 || rep.Findings[0].Where != b.cfg+":2" ||
		rep.Findings[0].Hint != "write 10.20.0.10/31, 10.20.0.12/30, 10.20.0.16/30, 10.20.0.20/32, one a line" {
		t.Errorf("invalid edit: %+v", rep)
	}

	b.writeCfg("10.20.0.128/28", "10.20.0.144/28")
	r = b.run("up", "--dry-run")
	b.want(r, 0)
	if r.Stdout != "dry run: nothing would change; 2 ranges in place\n" {
		t.Errorf("dry run without changes printed %q", r.Stdout)
	}
	if after := b.table(); after != before {
		t.Errorf("a dry run changed the table")
	}
}

// The route service must stay small: no vSphere SDK, no OVF environment,
// and nothing of the wizard's configuration (it checks a file against the
// system, never against vApp properties). And one netlink layer:
// mdlayher/netlink for the socket and the framing, under the routes, their
// events and the system's facts alike; no second stack, and no package of
// ours that opens netlink sockets or packs their headers by hand.
func TestNoHeavyDependencies(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", ".")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	for _, dep := range deps {
		if strings.Contains(dep, "govmomi") || strings.HasSuffix(dep, "/internal/ovfenv") ||
			strings.HasSuffix(dep, "/internal/appliance") || strings.HasSuffix(dep, "anyip/ovf") ||
			strings.HasPrefix(dep, "github.com/vishvananda/netlink") || strings.HasPrefix(dep, "github.com/jsimonetti/rtnetlink") {
			t.Errorf("anyip-routes depends on %s", dep)
		}
	}
	if !slices.Contains(deps, "github.com/mdlayher/netlink") {
		t.Error("anyip-routes does not link github.com/mdlayher/netlink: which netlink layer does it use?")
	}

	// Our own packages it links, with their source files.
	cmd = exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if eq .Module.Path "github.com/anyip/anyip"}}{{.Dir}}{{range .GoFiles}} {{.}}{{end}}{{"\n"}}{{end}}{{end}}`, ".")
	out, err = cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	handmade := []string{"AF_NETLINK", "NLMSG_HDRLEN", "NLMSG_ALIGNTO", "RTA_ALIGNTO", "NLA_ALIGNTO", "SizeofNlMsghdr", "SizeofRtAttr", "SizeofNlAttr"}
	files := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, name := range f[1:] {
			src, err := os.ReadFile(filepath.Join(f[0], name))
			if err != nil {
				t.Fatal(err)
			}
			files++
			for _, w := range handmade {
				if strings.Contains(string(src), w) {
					t.Errorf("%s uses %s: netlink sockets and framing are mdlayher/netlink's", filepath.Join(f[0], name), w)
				}
			}
		}
	}
	if files == 0 {
		t.Error("no source files of our own found in the dependencies")
	}
}

// A line that does not parse does not hide the others' problems: one round
// of up --dry-run shows them all, and the file is still refused whole. The
// line that does not parse is in no other finding (the range after it,
// inside the one it was meant to be, is no overlap), and a conflict with
// the system names its place for automation.
func TestUpReportsEveryLine(t *testing.T) {
	b := newBox(t)
	peer := netnstest.New(t)
	b.ns.Veth(t, "eth0", "10.50.0.250/24", peer, "up0", "10.50.0.17/24")
	b.ip("route", "add", "default", "via", "10.50.0.17")
	b.writeCfg("10.50.0.128/28", "10.50.0.160/27 # pool B", "10.50.0.16/28", "10.50.0.136/29", "10.50.0.176/28")
	r := b.run("up", "--dry-run", "--output", "json")
	b.want(r, 1)
	want := `{
  "schema": 1,
  "mode": "dry-run",
  "result": "invalid",
  "config": "` + b.cfg + `",
  "findings": [
    {
      "severity": "error",
      "where": "` + b.cfg + `:2",
      "value": "10.50.0.160/27 # pool B",
      "message": "has an inline comment, which the file format does not allow",
      "hint": "move the comment to a line of its own starting with #"
    },
    {
      "severity": "error",
      "where": "` + b.cfg + `:3",
      "value": "10.50.0.16/28",
      "message": "10.50.0.16/28 contains 10.50.0.17, the current default gateway (via eth0): the appliance would answer for it and cut it off the network",
      "hint": "move or shrink the range so it leaves out 10.50.0.17",
      "conflict": "10.50.0.17",
      "conflict_where": "route:table=main,dst=default,dev=eth0"
    },
    {
      "severity": "error",
      "where": "` + b.cfg + `:4",
      "value": "10.50.0.136/29",
      "message": "10.50.0.136/29 overlaps 10.50.0.128/28 (` + b.cfg + `:1)",
      "hint": "keep one range for these addresses: merge them or make them disjoint",
      "conflict": "10.50.0.128/28",
      "conflict_where": "` + b.cfg + `:1"
    }
  ],
  "routes": {
    "added": [],
    "adopted": [],
    "removed": [],
    "kept": 0,
    "in_place": 0
  }
}
`
	if r.Stdout != want {
		t.Errorf("dry run JSON\n%s\nwant\n%s", r.Stdout, want)
	}

	r = b.run("up")
	b.want(r, 1)
	if want := "error: " + b.cfg + `:2 = "10.50.0.160/27 # pool B": has an inline comment, which the file format does not allow (move the comment to a line of its own starting with #)` + "\n" +
		"error: " + b.cfg + `:3 = "10.50.0.16/28": 10.50.0.16/28 contains 10.50.0.17, the current default gateway (via eth0): the appliance would answer for it and cut it off the network (move or shrink the range so it leaves out 10.50.0.17)` + "\n" +
		"error: " + b.cfg + `:4 = "10.50.0.136/29": 10.50.0.136/29 overlaps 10.50.0.128/28 (` + b.cfg + `:1) (keep one range for these addresses: merge them or make them disjoint)` + "\n" +
		"anyip-routes: " + b.cfg + " is invalid (3 errors, 0 warnings); nothing was changed\n"; r.Stdout != want {
		t.Errorf("up printed\n%s\nwant\n%s", r.Stdout, want)
	}
	e2etest.WantRoutes(t, b.routes())
}
