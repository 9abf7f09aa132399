package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
)

// A bad flag is one line naming it and pointing at --help, as iproute2
// does; --help is the real usage (on stdout, exit 0); --version says
// which build this is; with --output json a usage error is JSON too.
func TestCommandLineHabits(t *testing.T) {
	b := newBox(t)
	r := b.exec("--bogus")
	b.want(r, 2)
	if r.Stdout != "" || r.Stderr != "anyip-firstboot: unknown flag --bogus (see anyip-firstboot --help)\n" {
		t.Errorf("a bad flag printed\nstdout: %q\nstderr: %q", r.Stdout, r.Stderr)
	}
	r = b.exec("--output", "json", "extra")
	b.want(r, 2)
	if r.Stdout != "{\n  \"schema\": 1,\n  \"result\": \"usage\",\n  \"error\": \"anyip-firstboot: unexpected argument \\\"extra\\\"\"\n}\n" || r.Stderr != "" {
		t.Errorf("a usage error with --output json printed\nstdout: %q\nstderr: %q", r.Stdout, r.Stderr)
	}
	r = b.exec("--help")
	b.want(r, 0)
	for _, want := range []string{"usage: anyip-firstboot [flags]", "Exit status: 0 done", "anyip-firstboot --dry-run ",
		"\n  --output text|json    report text|json (default text)\n", "\n  --version             print the version and exit\n",
		"(default 16, or $ANYIP_MAX_RANGE)"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("--help lacks %q:\n%s", want, r.Stdout)
		}
	}
	// One default for each of the 8 flags that have one, never a second.
	if n := strings.Count(r.Stdout, "(default"); n != 8 || strings.Contains(r.Stdout, "default from") {
		t.Errorf("--help gives %d defaults, want 8:\n%s", n, r.Stdout)
	}
	r = b.exec("--version")
	b.want(r, 0)
	if !strings.HasPrefix(r.Stdout, "anyip-firstboot ") || strings.Count(r.Stdout, "\n") != 1 {
		t.Errorf("--version printed %q", r.Stdout)
	}
}

// A bad $ANYIP_MAX_RANGE is named with its value and where it comes from,
// and the flag it is the default of overrides it.
func TestBadRangeLimitVariable(t *testing.T) {
	b := newBox(t)
	env := e2etest.Base2NIC().WriteEnv(t, t.TempDir())
	runEnv := func(extra ...string) result {
		args := append([]string{"--ovf-env", env, "--config", b.cfg, "--state-dir", b.state, "--resolv-conf", b.resolvConf, "--root", b.root, "--publish=false", "--dry-run"}, extra...)
		cmd := b.ns.Command(e2etest.Binary(t, "anyip-firstboot"), args...)
		cmd.Env = append(os.Environ(), "ANYIP_MAX_RANGE=abc")
		return e2etest.Exec(t, cmd)
	}
	r := runEnv()
	b.want(r, 2)
	want := `anyip-firstboot: $ANYIP_MAX_RANGE is "abc" (in the environment; the units read it from /etc/default/anyip): set it to a prefix length from 1 to 32, or remove it for the default /16 (see anyip-firstboot --help)` + "\n"
	if r.Stderr != want {
		t.Errorf("stderr %q\nwant   %q", r.Stderr, want)
	}
	b.want(runEnv("--max-range", "16"), 0)
}

// The JSON report says its schema, the mode apart from the result, and the
// same names for the same things as the text; a dry run that would change
// nothing says so.
func TestDryRunReport(t *testing.T) {
	b := newBox(t)
	b.roleNICs("management", "workload", "frontend") // no warning: the closing lines count none
	type report struct {
		Schema int    `json:"schema"`
		Mode   string `json:"mode"`
		Result string `json:"result"`
		Routes struct {
			Added   []string `json:"added"`
			Kept    *int     `json:"kept"`
			InPlace *int     `json:"in_place"`
		} `json:"routes"`
		ConfigChange struct {
			Gained []string `json:"gained"`
		} `json:"config_change"`
		Parts []struct{ Part, Result string } `json:"parts"`
	}
	decode := func(r result) report {
		t.Helper()
		var rep report
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			t.Fatalf("%v\n%s", err, r.Stdout)
		}
		return rep
	}
	p := e2etest.Base3NIC()
	r := b.run(p, "--dry-run", "--output", "json", "--publish=false")
	b.want(r, 0)
	rep := decode(r)
	if rep.Schema != 1 || rep.Mode != "dry-run" || rep.Result != "ok" || strings.Join(rep.Routes.Added, " ") != "10.30.0.128/26 10.30.0.192/27" ||
		rep.Routes.Kept == nil || *rep.Routes.InPlace != 2 || len(rep.ConfigChange.Gained) != 2 {
		t.Errorf("first dry run: %+v\n%s", rep, r.Stdout)
	}
	r = b.run(p, "--publish=false")
	b.want(r, 0)
	if !strings.HasSuffix(r.Stdout, "\nanyip-firstboot: ok: 2 routes added, 0 removed, 0 adopted, 0 kept; 2 ranges in place.\n") {
		t.Errorf("text of the run:\n%s", r.Stdout)
	}

	r = b.run(p, "--dry-run", "--output", "json", "--publish=false")
	b.want(r, 0)
	rep = decode(r)
	if rep.Mode != "dry-run" || rep.Result != "unchanged" || len(rep.Routes.Added) != 0 || *rep.Routes.Kept != 2 || *rep.Routes.InPlace != 2 {
		t.Errorf("dry run after the run: %+v\n%s", rep, r.Stdout)
	}
	for _, part := range rep.Parts {
		if part.Result != "unchanged" {
			t.Errorf("part %s would be %s after the same run", part.Part, part.Result)
		}
	}
	r = b.run(p, "--dry-run", "--publish=false")
	b.want(r, 0)
	if !strings.HasSuffix(r.Stdout, "\nanyip-firstboot: dry run: nothing would change; nothing was changed.\n") {
		t.Errorf("text of a dry run that changes nothing:\n%s", r.Stdout)
	}
	r = b.run(p.With("loadbalance.service_ip_range", "10.30.0.0/33"), "--dry-run", "--publish=false")
	b.want(r, 1)
	if !strings.HasSuffix(r.Stdout, "; dry run: ranges would be refused; nothing was changed.\n") || strings.Contains(r.Stdout, "were applied") {
		t.Errorf("text of a refused dry run:\n%s", r.Stdout)
	}
	r = b.run(p, "--output", "json", "--publish=false")
	b.want(r, 0)
	if rep = decode(r); rep.Mode != "apply" || rep.Result != "unchanged" || *rep.Routes.InPlace != 2 {
		t.Errorf("unchanged run: %+v", rep)
	}
}
