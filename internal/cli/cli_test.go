package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/anyip/anyip/internal/finding"
)

func streamID(t *testing.T, f *os.File) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(uint64(st.Ino), 10)
}

func tempStream(t *testing.T) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readLines(t *testing.T, f *os.File) []string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

func TestLoggerOnTheJournal(t *testing.T) {
	f := tempStream(t)
	t.Setenv("JOURNAL_STREAM", streamID(t, f))
	t.Setenv("ANYIP_LOG_LEVEL", "debug")
	log := Logger(f, "test").With("unit", "x").WithGroup("g")
	log.Debug("d")
	log.Info("i")
	log.Warn("w")
	log.Error("e", "err", "multi\nline")
	lines := readLines(t, f)
	want := []string{"<7>level=DEBUG", "<6>level=INFO", "<4>level=WARN", "<3>level=ERROR"}
	if len(lines) != len(want) {
		t.Fatalf("lines %q", lines)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]) || !strings.Contains(l, "cmd=test unit=x") {
			t.Errorf("line %q, want prefix %s", l, want[i])
		}
	}

	// Lines written at once never mix their prefixes.
	g := tempStream(t)
	t.Setenv("JOURNAL_STREAM", streamID(t, g))
	log = Logger(g, "test")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				if i%2 == 0 {
					log.Error("e", "n", j)
				} else {
					log.Info("i", "n", j)
				}
			}
		})
	}
	wg.Wait()
	lines = readLines(t, g)
	if len(lines) != 1600 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if !(strings.HasPrefix(l, "<3>level=ERROR msg=e") || strings.HasPrefix(l, "<6>level=INFO msg=i")) {
			t.Fatalf("mixed line %q", l)
		}
	}
}

func TestLoggerPlain(t *testing.T) {
	for name, env := range map[string]func(t *testing.T, f *os.File) string{
		"unset":        func(_ *testing.T, _ *os.File) string { return "" },
		"other stream": func(t *testing.T, _ *os.File) string { return streamID(t, tempStream(t)) },
		"garbage":      func(_ *testing.T, _ *os.File) string { return "journal" },
	} {
		t.Run(name, func(t *testing.T) {
			f := tempStream(t)
			t.Setenv("JOURNAL_STREAM", env(t, f))
			Logger(f, "test").Error("e")
			WriteFindings(f, finding.List{finding.Errorf("k", "v", "", "bad")})
			for _, l := range readLines(t, f) {
				if strings.HasPrefix(l, "<") {
					t.Errorf("prefix on a plain stream: %q", l)
				}
			}
		})
	}
}

func TestWriteFindingsOnTheJournal(t *testing.T) {
	f := tempStream(t)
	t.Setenv("JOURNAL_STREAM", streamID(t, f))
	WriteFindings(f, finding.List{finding.Warnf("w", "", "", "careful"), finding.Errorf("e", "", "", "bad")})
	lines := readLines(t, f)
	if len(lines) != 2 || lines[0] != "<3>error: e: bad" || lines[1] != "<4>warning: w: careful" {
		t.Errorf("lines %q", lines)
	}
}

// Two hundred thousand findings print as the first MaxListed and a count.
func TestWriteFindingsCaps(t *testing.T) {
	var fs finding.List
	for i := range 200_000 {
		if i%4 == 0 {
			fs = append(fs, finding.Warnf(fmt.Sprintf("f:%d", i), "x", "", "dup"))
		} else {
			fs = append(fs, finding.Errorf(fmt.Sprintf("f:%d", i), "x", "", "bad"))
		}
	}
	var b strings.Builder
	WriteFindings(&b, fs)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != finding.MaxListed+1 {
		t.Fatalf("%d lines", len(lines))
	}
	if last := lines[len(lines)-1]; last != "... and 199900 more (149900 errors, 50000 warnings)" {
		t.Errorf("last line %q", last)
	}
	if !strings.HasPrefix(lines[0], "error: f:1 ") {
		t.Errorf("errors first: %q", lines[0])
	}
}

// Every flag error spells the flag as the usage does (--output, -h), and a
// flag of another verb is named as such; one line, pointing at --help.
func TestFlagErrorsSpellFlagsAsTheUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "cmd verb: unknown flag --bogus (see cmd verb --help)\n"},
		{[]string{"-x"}, "cmd verb: unknown flag -x (see cmd verb --help)\n"},
		{[]string{"--other"}, "cmd verb: --other is not a flag of verb (see cmd verb --help)\n"},
		{[]string{"--output", "yaml"}, "cmd verb: invalid value \"yaml\" for --output: want text or json (see cmd verb --help)\n"},
		{[]string{"-output=yaml"}, "cmd verb: invalid value \"yaml\" for --output: want text or json (see cmd verb --help)\n"},
		{[]string{"--output"}, "cmd verb: --output needs a value (see cmd verb --help)\n"},
		{[]string{"--dry-run=maybe"}, "cmd verb: invalid value \"maybe\" for --dry-run: want true or false (see cmd verb --help)\n"},
		{[]string{"--max-range", "x"}, "cmd verb: invalid value \"x\" for --max-range: want a prefix length (see cmd verb --help)\n"},
	} {
		fl := NewFlags("cmd verb", "")
		out := Format("text")
		fl.Var(&out, "output", "report `text|json`")
		fl.Bool("dry-run", false, "")
		l := DefaultRangeLimits(16, 48)
		l.Register(fl.FlagSet)
		fl.NotHere("verb", "other", "output")
		var stdout, stderr strings.Builder
		if p := fl.Parse(c.args, &stdout, &stderr); !p.Done || p.Code != ExitUsage || stdout.Len() != 0 || stderr.String() != c.want {
			t.Errorf("%q: %+v\nstderr %q\nwant   %q", c.args, p, stderr.String(), c.want)
		}
	}
}

// The range limits show one default each, the built-in one and the
// variable that replaces it, whatever the variable holds.
func TestRangeLimitsUsage(t *testing.T) {
	for _, env := range []string{"", "20", "abc"} {
		t.Setenv(EnvMaxRange, env)
		fl := NewFlags("cmd", "flags:\n")
		l := DefaultRangeLimits(16, 48)
		l.Register(fl.FlagSet)
		var b strings.Builder
		fl.WriteUsage(&b)
		want := "flags:\n" +
			"  --max-range N         largest IPv4 range allowed, as a prefix length N\n" +
			"                        (default 16, or $ANYIP_MAX_RANGE)\n" +
			"  --max-range6 N        largest IPv6 range allowed, as a prefix length N\n" +
			"                        (default 48, or $ANYIP_MAX_RANGE6)\n"
		if b.String() != want {
			t.Errorf("$%s=%q:\n%s\nwant\n%s", EnvMaxRange, env, b.String(), want)
		}
	}
}
