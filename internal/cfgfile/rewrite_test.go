package cfgfile_test

import (
	"bytes"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/cfgfile"
)

const cfgPath = "/etc/vmware/anyip-routes.cfg"

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// parse parses b and fails the test on any error finding.
func parse(t *testing.T, b []byte) *cfgfile.File {
	t.Helper()
	f, fs := cfgfile.Parse(cfgPath, b)
	if fs.HasErrors() {
		t.Fatalf("does not parse:\n%v\n--- file ---\n%s", fs, b)
	}
	return f
}

// render is Rewrite as its callers use it: parse the old file, rewrite.
// The ranges Rewrite says the new file holds are those it does hold.
func render(t *testing.T, old string, ranges []netip.Prefix) []byte {
	t.Helper()
	return rewrite(t, []byte(old), ranges)
}

func rewrite(t *testing.T, old []byte, ranges []netip.Prefix) []byte {
	t.Helper()
	out, held := parse(t, old).Rewrite(ranges)
	if got := parse(t, out).Prefixes(); !slices.Equal(held, got) {
		t.Errorf("Rewrite says the file holds %v; it holds %v", held, got)
	}
	return out
}

// split cuts a rendered file into the bytes before the block, the block's
// lines (markers included) and the bytes after it.
func split(t *testing.T, b []byte) (before []byte, block []string, after []byte) {
	t.Helper()
	f := parse(t, b)
	if f.Begin == 0 || f.End == 0 {
		t.Fatalf("no first-boot block in:\n%s", b)
	}
	n := 0
	rest := b
	for len(rest) > 0 {
		n++
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		switch {
		case n < f.Begin:
			before = append(before, line...)
		case n <= f.End:
			block = append(block, strings.TrimRight(string(line), "\r\n"))
		default:
			after = append(after, line...)
		}
	}
	return before, block, after
}

// managed returns the ranges inside the block of b, in file order.
func managed(t *testing.T, b []byte) []netip.Prefix {
	t.Helper()
	var out []netip.Prefix
	for _, e := range parse(t, b).Entries {
		if e.Managed {
			out = append(out, e.Prefix)
		}
	}
	return out
}

func TestCfgNewFile(t *testing.T) {
	wiz := prefixes("192.168.30.128/26", "192.168.30.192/27", "2001:db8:30::/64")
	for name, out := range map[string][]byte{
		"nil old":             rewrite(t, nil, wiz),
		"empty old":           rewrite(t, []byte{}, wiz),
		"whitespace-only old": rewrite(t, []byte("\n  \r\n"), wiz),
	} {
		t.Run(name, func(t *testing.T) {
			before, block, after := split(t, out)
			if len(after) != 0 {
				t.Errorf("lines after the block in a new file: %q", after)
			}
			if len(before) == 0 {
				t.Error("a new file has no header")
			}
			for _, l := range strings.Split(strings.TrimSuffix(string(before), "\n"), "\n") {
				if !strings.HasPrefix(l, "#") {
					t.Errorf("header line %q is not a comment", l)
				}
			}
			if !strings.HasPrefix(block[0], cfgfile.BeginMarker) || block[len(block)-1] != cfgfile.EndMarker {
				t.Errorf("block markers: %q … %q", block[0], block[len(block)-1])
			}
			if got := managed(t, out); !slices.Equal(got, wiz) {
				t.Errorf("block holds %v, want %v", got, wiz)
			}
			if !bytes.HasSuffix(out, []byte("\n")) || bytes.Contains(out, []byte("\r")) {
				t.Error("a new file must use LF line ends and end with one")
			}
		})
	}
	// A new file with no ranges still has the (empty) block.
	out := rewrite(t, nil, nil)
	if f := parse(t, out); f.Begin == 0 || f.End != f.Begin+1 || len(f.Entries) != 0 {
		t.Errorf("empty block: Begin %d End %d entries %v", f.Begin, f.End, f.Entries)
	}
}

func TestCfgIdempotent(t *testing.T) {
	wiz := prefixes("192.168.30.128/26", "192.168.30.192/27")
	for _, old := range []string{
		"",
		"# mine\n10.9.0.0/24\n",
		"# mine\r\n10.9.0.0/24\r\n10.8.0.0/24",
		"192.168.30.128/26\n10.9.0.0/24\n",
	} {
		first := render(t, old, wiz)
		second := render(t, string(first), wiz)
		third := render(t, string(second), wiz)
		if !bytes.Equal(first, second) || !bytes.Equal(second, third) {
			t.Errorf("old %q: re-render changed the file:\n--- first ---\n%s--- second ---\n%s--- third ---\n%s", old, first, second, third)
		}
	}
}

func TestCfgChangedRangesReplaceOnlyTheBlock(t *testing.T) {
	old := "# my notes\r\n10.9.0.0/24\r\n\n" +
		cfgfile.BeginMarker + " (from vApp property loadbalance.service_ip_range; rewritten at every boot)\n" +
		"192.168.30.128/26\n# a comment someone put in the block\n192.168.30.192/27\n" +
		cfgfile.EndMarker + "\n" +
		"  10.8.0.0/24  \n# trailing hand comment\r\n10.7.0.0/24"
	wiz := prefixes("192.168.40.0/25", "2001:db8:40::/64")
	out := render(t, old, wiz)

	oldBefore, _, oldAfter := split(t, []byte(old+"\n"))
	before, block, after := split(t, out)
	if !bytes.Equal(before, oldBefore) {
		t.Errorf("lines before the block changed:\n got %q\nwant %q", before, oldBefore)
	}
	// The hand lines after the block are kept byte for byte, CRLF and
	// surrounding space included. A last line without a newline gets one:
	// the old shell service reads the file with `read`, which drops an
	// unterminated last line.
	if !bytes.Equal(after, oldAfter) {
		t.Errorf("lines after the block changed:\n got %q\nwant %q", after, oldAfter)
	}
	if !bytes.HasPrefix([]byte(old), before) || !strings.Contains(old, strings.TrimSuffix(string(after), "\n")) {
		t.Error("hand lines are not the old file's bytes")
	}
	if got := managed(t, out); !slices.Equal(got, wiz) {
		t.Errorf("block holds %v, want %v", got, wiz)
	}
	if slices.Contains(block, "# a comment someone put in the block") {
		t.Error("the old block's content survived")
	}
}

// A file from the old appliance has no markers; its first boot wrote the
// wizard's ranges as plain lines. Those are taken into the block, the
// rest stays where it is.
func TestCfgOldApplianceFile(t *testing.T) {
	old := "# ranges\n192.168.30.128/26\n10.9.0.0/24\r\n192.168.30.192/27\n10.0.0.5\n# end\n"
	wiz := prefixes("192.168.30.128/26", "192.168.30.192/27", "10.0.0.5/32", "192.168.31.0/24")
	out := render(t, old, wiz)
	before, _, after := split(t, out)
	if want := "# ranges\n10.9.0.0/24\r\n# end\n"; string(before) != want {
		t.Errorf("lines before the block = %q, want %q", before, want)
	}
	if len(after) != 0 {
		t.Errorf("lines after the block: %q", after)
	}
	if got := managed(t, out); !slices.Equal(got, wiz) {
		t.Errorf("block holds %v, want %v", got, wiz)
	}
	if _, fs := cfgfile.Parse(cfgPath, out); len(fs) != 0 {
		t.Errorf("absorbed lines left findings (duplicates?):\n%v", fs)
	}
	// Once converted, the file is stable.
	if again := render(t, string(out), wiz); !bytes.Equal(again, out) {
		t.Errorf("second render differs:\n%s\n---\n%s", out, again)
	}
}

// Whatever the old file and the wizard ranges, the result parses without
// errors and holds exactly the hand ranges and the wizard ranges.
func TestCfgUnion(t *testing.T) {
	olds := []string{
		"",
		"\n",
		"# only a comment",
		"10.9.0.0/24",
		"10.9.0.0/24\n10.8.0.0/24\n",
		"\ufeff10.9.0.0/24\r\n# x\r\n2001:db8:9::/64\r\n",
		"192.168.30.128/26\n10.9.0.0/24\n",
		cfgfile.BeginMarker + "\n192.168.30.128/26\n" + cfgfile.EndMarker + "\n",
		"10.9.0.0/24\n" + cfgfile.BeginMarker + "\n" + cfgfile.EndMarker + "\n10.8.0.0/24",
		"# head\r\n" + cfgfile.BeginMarker + "\r\n10.1.0.0/24\r\n" + cfgfile.EndMarker + "\r\n10.9.0.0/24\r\n",
		"10.9.0.5\n" + cfgfile.BeginMarker + "\n10.1.0.0/24\n10.2.0.0/24\n" + cfgfile.EndMarker,
	}
	wizards := [][]netip.Prefix{
		nil,
		prefixes("192.168.30.128/26"),
		prefixes("192.168.30.128/26", "192.168.30.192/27", "2001:db8:30::/64"),
		prefixes("10.1.0.0/24"),
		prefixes("10.9.0.0/24", "10.7.0.0/24"), // one equals a hand range
	}
	for _, old := range olds {
		for _, wiz := range wizards {
			var hand []netip.Prefix
			if old != "" {
				for _, e := range parse(t, []byte(old)).Entries {
					if !e.Managed {
						hand = append(hand, e.Prefix)
					}
				}
			}
			out := render(t, old, wiz)
			f := parse(t, out)
			want := cfgfile.SortPrefixes(append(slices.Clone(hand), wiz...))
			if got := f.Prefixes(); !slices.Equal(got, want) {
				t.Errorf("old %q, wizard %v:\n got %v\nwant %v\n--- file ---\n%s", old, wiz, got, want, out)
			}
			// The block holds the wizard ranges, one a line, in order.
			_, block, _ := split(t, out)
			var lines []string
			for _, w := range wiz {
				lines = append(lines, w.String())
			}
			if inner := block[1 : len(block)-1]; !slices.Equal(inner, lines) && len(inner)+len(lines) != 0 {
				t.Errorf("old %q: block lines %q, want %q", old, inner, lines)
			}
		}
	}
}

// A file with old Mac line ends (bare CR) is lines like any other: the
// operator's are kept byte for byte, line ends included, and the block
// replaces exactly the block.
func TestRewriteBareCR(t *testing.T) {
	old := "# hand\r10.9.0.0/24\r" + cfgfile.BeginMarker + "\r10.0.0.0/24\r" + cfgfile.EndMarker + "\r10.8.0.0/24\r"
	out := render(t, old, prefixes("10.1.0.0/24"))
	f := parse(t, out)
	var got []string
	for _, e := range f.Entries {
		got = append(got, e.Prefix.String()+" managed="+strconv.FormatBool(e.Managed))
	}
	if want := []string{"10.9.0.0/24 managed=false", "10.1.0.0/24 managed=true", "10.8.0.0/24 managed=false"}; !slices.Equal(got, want) {
		t.Errorf("rewritten file holds %v, want %v:\n%q", got, want, out)
	}
	if !bytes.HasPrefix(out, []byte("# hand\r10.9.0.0/24\r")) || !bytes.HasSuffix(out, []byte(cfgfile.EndMarker+"\n10.8.0.0/24\r")) {
		t.Errorf("operator lines not kept byte for byte: %q", out)
	}
	if again := render(t, string(out), prefixes("10.1.0.0/24")); !bytes.Equal(again, out) {
		t.Errorf("second rewrite differs:\n%q\n---\n%q", out, again)
	}
}
