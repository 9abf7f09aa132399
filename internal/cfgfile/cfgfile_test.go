package cfgfile

import (
	"errors"
	"fmt"
	"github.com/anyip/anyip/internal/textfile"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/anyip/anyip/internal/finding"
)

const path = "/etc/vmware/anyip-routes.cfg"

func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

func TestParseLine(t *testing.T) {
	for _, c := range []struct {
		in, want string // want "" means an error
		hint     string // substring of the hint; "=..." exactly
		msg      string
	}{
		{"10.0.0.0/24", "10.0.0.0/24", "", ""},
		{"192.168.30.128/26", "192.168.30.128/26", "", ""},
		{"10.0.0.5", "10.0.0.5/32", "", ""},
		{"10.0.0.5/32", "10.0.0.5/32", "", ""},
		{"2001:db8::/64", "2001:db8::/64", "", ""},
		{"2001:db8::5", "2001:db8::5/128", "", ""},
		{"::ffff:10.0.0.5", "10.0.0.5/32", "", ""},
		{"0.0.0.0/0", "0.0.0.0/0", "", ""}, // whether it is safe is validate's business

		{"10.0.0.70/26", "", "=did you mean 10.0.0.64/26?", "host bits"},
		{"2001:db8::1/64", "", "=did you mean 2001:db8::/64?", "host bits"},
		{"10.0.0.0/24 # office", "", "line of its own", "inline comment"},
		{"10.0.0.0/24#office", "", "line of its own", "inline comment"},
		{"10.0.0.0/24 10.0.1.0/24", "", "one CIDR on each line", "more than one value"},
		{"10.0.0.0/24,10.0.1.0/24", "", "one CIDR on each line", "more than one value"},
		{"10.0.0.0/24;", "", "one CIDR on each line", "more than one value"},
		{"10.0.0.0/24\t10.0.1.0/24", "", "one CIDR on each line", "more than one value"},
		{"hello", "", "address/prefix-length", "not a CIDR"},
		{"10.0.0.300/24", "", "=an IPv4 address is four numbers from 0 to 255, e.g. 192.168.30.128/26", "has an IPv4 address in which 300 is more than 255"},
		{"10.0.0.0/33", "", "=the prefix length after / must be a number from 0 to 32", `has a bad prefix length "33"`},
		{`10.0.0.0\24`, "", "address/prefix-length", "not a CIDR"},
		{"10.0.0.0 /24", "", "=did you mean 10.0.0.0/24?", "has a space next to the /"},
		{"10.0.0.0/ 24", "", "=did you mean 10.0.0.0/24?", "has a space next to the /"},
		{"10.0.0.1 10.0.0.2/32", "", "one CIDR on each line", "more than one value"},
		{"10.0.0/24", "", "=did you mean 10.0.0.0/24?", "has an address of fewer than four numbers"},
		{"10.0.1/16", "", "=an IPv4 address is four numbers from 0 to 255, e.g. 192.168.30.128/26", "has an IPv4 address of 3 numbers, not four"},
		{"10.0.0.64-10.0.0.127", "10.0.0.64/26", "", ""},
		{"10.0.0.64 - 10.0.0.127", "10.0.0.64/26", "", ""},
		{"2001:db8::-2001:db8::ff", "2001:db8::/120", "", ""},
		{"10.0.0.5-10.0.0.5", "10.0.0.5/32", "", ""},
		{"10.0.0.10-10.0.0.20", "", "=write 10.0.0.10/31, 10.0.0.12/30, 10.0.0.16/30, 10.0.0.20/32, one a line", "is an address range that is not one CIDR"},
		{"10.0.0.127-10.0.0.64", "", "=did you mean 10.0.0.64-10.0.0.127 (10.0.0.64/26)?", "is an address range that ends before it starts"},
		{"fe80::1%eth0", "", "=remove the %zone", "has an IPv6 zone (%eth0), which a route or an interface address cannot carry"},
		{"::ffff:10.0.0.0/120", "", "=write 10.0.0.0/24", "is an IPv4-mapped IPv6 prefix"},
		{"10.40.30.64/255.255.255.192", "", "=did you mean 10.40.30.64/26?", "has a netmask (255.255.255.192) after the /, not a prefix length"},
		{"10.40.30.0/255.0.255.0", "", "=write the prefix length, a number from 0 to 32", "has the netmask 255.0.255.0 after the /, which is not contiguous (its one bits do not all come first)"},
		{"10.40.30.0/027", "", "=did you mean 10.40.30.0/27?", "has a prefix length with a leading zero (027)"},
		{"fd00:30:100/120", "", "=write the address with eight groups of hex digits, or :: for one run of zero groups, e.g. fd00:30::1:0/120", "has an IPv6 address of 3 groups; it needs eight, or :: for the zero groups left out"},
		{"ip route add local 10.0.0.0/24 dev lo", "", "one CIDR", "more than one value"},
	} {
		p, hint, err := ParseLine(c.in)
		if c.want != "" {
			if err != nil || p != netip.MustParsePrefix(c.want) {
				t.Errorf("ParseLine(%q) = %v, %v; want %s", c.in, p, err, c.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseLine(%q) = %v, want an error", c.in, p)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("ParseLine(%q) error %q, want it to say %q", c.in, err, c.msg)
		}
		if exact, ok := strings.CutPrefix(c.hint, "="); ok && hint != exact || !ok && !strings.Contains(hint, c.hint) {
			t.Errorf("ParseLine(%q) hint %q, want %q", c.in, hint, c.hint)
		}
	}
}

func TestParse(t *testing.T) {
	type entry struct {
		line    int
		prefix  string
		managed bool
	}
	type want struct {
		sev  finding.Severity
		line int
		text string // the finding's Value: the line's text
		msg  string
		hint string
	}
	E, W := finding.Error, finding.Warning
	for _, c := range []struct {
		name       string
		data       string
		entries    []entry
		begin, end int
		findings   []want
	}{
		{"empty file", "", nil, 0, 0, nil},
		{"only comments and blank lines", "# ranges\n\n   \n\t# more\n", nil, 0, 0, nil},
		{"plain lines", "10.0.0.0/24\n10.0.1.0/24\n", []entry{{1, "10.0.0.0/24", false}, {2, "10.0.1.0/24", false}}, 0, 0, nil},
		{"comments and blank lines between", "# office\n10.0.0.0/24\n\n  # lab\n  10.0.1.0/24  \n", []entry{{2, "10.0.0.0/24", false}, {5, "10.0.1.0/24", false}}, 0, 0, nil},
		{"no final newline", "10.0.0.0/24\n10.0.1.0/24", []entry{{1, "10.0.0.0/24", false}, {2, "10.0.1.0/24", false}}, 0, 0, nil},
		{"CRLF", "# office\r\n10.0.0.0/24\r\n\r\n10.0.1.0/24\r\n", []entry{{2, "10.0.0.0/24", false}, {4, "10.0.1.0/24", false}}, 0, 0, nil},
		{"UTF-8 BOM", "\ufeff10.0.0.0/24\n", []entry{{1, "10.0.0.0/24", false}}, 0, 0, nil},
		// Old Mac line ends: as text this would be one comment line, and
		// no ranges at all.
		{"bare CR", "# office\r10.0.0.0/24\r\r10.0.1.0/24\r", []entry{{2, "10.0.0.0/24", false}, {4, "10.0.1.0/24", false}}, 0, 0, nil},
		{"block with bare CR", "# hand\r10.9.0.0/24\r" + BeginMarker + "\r10.0.0.0/24\r" + EndMarker + "\r",
			[]entry{{2, "10.9.0.0/24", false}, {4, "10.0.0.0/24", true}}, 3, 5, nil},
		{"error with bare CR names its line", "10.0.0.0/24\rbogus\r10.0.1.0/24", []entry{{1, "10.0.0.0/24", false}, {3, "10.0.1.0/24", false}}, 0, 0,
			[]want{{E, 2, "bogus", "not a CIDR", ""}}},
		{"UTF-8 BOM before a comment", "\ufeff# ranges\r\n10.0.0.0/24\r\n", []entry{{2, "10.0.0.0/24", false}}, 0, 0, nil},
		{"bare addresses", "10.0.0.5\n2001:db8::5\n", []entry{{1, "10.0.0.5/32", false}, {2, "2001:db8::5/128", false}}, 0, 0, nil},
		{"IPv6", "2001:db8:20::/64\n", []entry{{1, "2001:db8:20::/64", false}}, 0, 0, nil},

		{"host bits", "10.0.0.0/24\n10.0.1.70/26\n", []entry{{1, "10.0.0.0/24", false}}, 0, 0,
			[]want{{E, 2, "10.0.1.70/26", "host bits", "did you mean 10.0.1.64/26?"}}},
		{"inline comment", "10.0.0.0/24 # office\n", nil, 0, 0,
			[]want{{E, 1, "10.0.0.0/24 # office", "inline comment", "line of its own"}}},
		{"two values on a line", "\n10.0.0.0/24 10.0.1.0/24\n", nil, 0, 0,
			[]want{{E, 2, "10.0.0.0/24 10.0.1.0/24", "more than one value", "one CIDR on each line"}}},
		{"garbage", "10.0.0.0/24\nnot a range at all\n\x00\x01\n", []entry{{1, "10.0.0.0/24", false}}, 0, 0,
			[]want{{E, 2, "not a range at all", "more than one value", ""}, {E, 3, "\x00\x01", "not a CIDR", "address/prefix-length"}}},
		{"error with CRLF names the line without CR", "10.0.0.0/24\r\nbogus\r\n", []entry{{1, "10.0.0.0/24", false}}, 0, 0,
			[]want{{E, 2, "bogus", "not a CIDR", ""}}},
		{"duplicate lines", "10.0.0.0/24\n10.0.1.0/24\n10.0.0.0/24\n", []entry{{1, "10.0.0.0/24", false}, {2, "10.0.1.0/24", false}}, 0, 0,
			[]want{{W, 3, "10.0.0.0/24", "listed again (first on line 1)", "delete one"}}},
		{"duplicate in another spelling", "10.0.0.5\n10.0.0.5/32\n", []entry{{1, "10.0.0.5/32", false}}, 0, 0,
			[]want{{W, 2, "10.0.0.5/32", "listed again (first on line 1)", "delete one"}}},

		{"block", "# hand\n10.9.0.0/24\n" + BeginMarker + " (from vApp)\n10.0.0.0/24\n\n# note\n10.0.1.0/24\n" + EndMarker + "\n10.8.0.0/24\n",
			[]entry{{2, "10.9.0.0/24", false}, {4, "10.0.0.0/24", true}, {7, "10.0.1.0/24", true}, {9, "10.8.0.0/24", false}}, 3, 8, nil},
		{"empty block", BeginMarker + "\n" + EndMarker + "\n", nil, 1, 2, nil},
		{"indented markers", "  " + BeginMarker + "\n10.0.0.0/24\n\t" + EndMarker + "  \n", []entry{{2, "10.0.0.0/24", true}}, 1, 3, nil},
		{"block with CRLF", BeginMarker + "\r\n10.0.0.0/24\r\n" + EndMarker + "\r\n", []entry{{2, "10.0.0.0/24", true}}, 1, 3, nil},
		{"begin twice", BeginMarker + "\n10.0.0.0/24\n" + BeginMarker + "\n" + EndMarker + "\n", []entry{{2, "10.0.0.0/24", true}}, 1, 4,
			[]want{{E, 3, BeginMarker, "begins twice", "first is on line 1"}}},
		{"end without begin", "10.0.0.0/24\n" + EndMarker + "\n", []entry{{1, "10.0.0.0/24", false}}, 0, 0,
			[]want{{E, 2, EndMarker, "ends without beginning", "BEGIN"}}},
		{"end twice", BeginMarker + "\n" + EndMarker + "\n10.0.0.0/24\n" + EndMarker + "\n", []entry{{3, "10.0.0.0/24", false}}, 1, 2,
			[]want{{E, 4, EndMarker, "ends without beginning", ""}}},
		{"begin without end", "10.9.0.0/24\n" + BeginMarker + "\n10.0.0.0/24\n", []entry{{1, "10.9.0.0/24", false}, {3, "10.0.0.0/24", true}}, 2, 0,
			[]want{{E, 2, BeginMarker, "never ends", EndMarker}}},
		{"a comment that mentions the markers is a comment", "# the " + BeginMarker[2:] + " block\n10.0.0.0/24\n", []entry{{2, "10.0.0.0/24", false}}, 0, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, fs := Parse(path, []byte(c.data))
			if f.Path != path || f.Begin != c.begin || f.End != c.end {
				t.Errorf("Path, Begin, End = %q, %d, %d; want %q, %d, %d", f.Path, f.Begin, f.End, path, c.begin, c.end)
			}
			var got []entry
			for _, e := range f.Entries {
				got = append(got, entry{e.Line, e.Prefix.String(), e.Managed})
				if strings.TrimSpace(e.Text) != e.Text || e.Text == "" {
					t.Errorf("entry text %q is not the trimmed line", e.Text)
				}
			}
			if !slices.Equal(got, c.entries) {
				t.Errorf("entries = %v, want %v", got, c.entries)
			}
			if len(fs) != len(c.findings) {
				t.Fatalf("want %d findings, got:\n%v", len(c.findings), fs)
			}
			for i, w := range c.findings {
				g := fs[i]
				where := fmt.Sprintf("%s:%d", path, w.line)
				if g.Severity != w.sev || g.Where != where || g.Value != w.text {
					t.Errorf("finding %d = %v at %q = %q; want %v at %q = %q", i, g.Severity, g.Where, g.Value, w.sev, where, w.text)
				}
				if !strings.Contains(g.Message, w.msg) || !strings.Contains(g.Hint, w.hint) || g.Hint == "" {
					t.Errorf("finding %d = %v; want message %q, hint %q", i, g, w.msg, w.hint)
				}
				if !strings.Contains(g.String(), where) {
					t.Errorf("String() %q does not name %s", g.String(), where)
				}
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	_, fs := Parse(path, make([]byte, MaxSize+1))
	if len(fs) != 1 || !fs.HasErrors() || fs[0].Where != path {
		t.Errorf("want one error at %s, got %v", path, fs)
	}
}

func TestPrefixes(t *testing.T) {
	f, fs := Parse(path, []byte("2001:db8::/64\n10.0.1.0/24\n10.0.0.0/25\n"+BeginMarker+"\n10.0.0.0/24\n10.0.0.0/24\n10.0.0.0/25\n"+EndMarker+"\n"))
	if fs.HasErrors() {
		t.Fatal(fs)
	}
	want := prefixes("10.0.0.0/24", "10.0.0.0/25", "10.0.1.0/24", "2001:db8::/64")
	if got := f.Prefixes(); !slices.Equal(got, want) {
		t.Errorf("Prefixes = %v, want %v", got, want)
	}
	sorted := prefixes("10.0.0.0/24", "10.0.0.0/25", "2001:db8::/64")
	if got := SortPrefixes(prefixes("2001:db8::/64", "10.0.0.0/25", "10.0.0.0/24", "10.0.0.0/24")); !slices.Equal(got, sorted) {
		t.Errorf("SortPrefixes = %v, want %v", got, sorted)
	}
	if (&File{}).Prefixes() == nil || len((&File{}).Prefixes()) != 0 {
		t.Error("Prefixes of an empty file must be an empty slice")
	}
}

var whereLine = regexp.MustCompile(`^(.*):([0-9]+)$`)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"10.0.0.0/24\n",
		"# anyip-routes.cfg\n10.9.0.0/24\n" + BeginMarker + " (from vApp property loadbalance.service_ip_range)\n192.168.30.128/26\n192.168.30.192/27\n" + EndMarker + "\n# hand\n10.8.0.5\n",
		"# ranges\r\n10.0.0.0/24\r\n\r\n" + BeginMarker + "\r\n10.0.1.0/24\r\n" + EndMarker + "\r\n",
		"\ufeff10.0.0.0/24\n2001:db8::/64\n",
		"2001:db8:20::/64\n2001:db8::5\nfe80::1%eth0\n::ffff:10.0.0.0/120\n",
		"10.0.0.70/26\n10.0.0.0/24 # x\n10.0.0.0/24 10.0.1.0/24\n\x00\xff garbage\n",
		BeginMarker + "\n" + BeginMarker + "\n" + EndMarker + "\n" + EndMarker + "\n",
		"10.0.0.0/24\n10.0.0.0/24\n10.0.0.0/24",
		"\r\n\r\r\n#\n \t \n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, fs := Parse(path, data)
		lines := 0
		for range textfile.Lines(data) {
			lines++
		}
		for _, g := range fs {
			if g.Message == "" {
				t.Errorf("finding without a message: %#v", g)
			}
			if g.Severity != finding.Error {
				continue
			}
			m := whereLine.FindStringSubmatch(g.Where)
			if m == nil || m[1] != path {
				t.Fatalf("error finding without path:line: %#v", g)
			}
			if n, _ := strconv.Atoi(m[2]); n < 1 || n > lines {
				t.Fatalf("error finding names line %d of %d: %#v", n, lines, g)
			}
		}
		seen := map[netip.Prefix]bool{}
		for _, e := range file.Entries {
			if e.Line < 1 || e.Line > lines {
				t.Fatalf("entry on line %d of %d", e.Line, lines)
			}
			if e.Prefix != e.Prefix.Masked() {
				t.Fatalf("entry %v is not masked", e.Prefix)
			}
			if seen[e.Prefix] {
				t.Fatalf("entry %v kept twice", e.Prefix)
			}
			seen[e.Prefix] = true
			p, _, err := ParseLine(e.Prefix.String())
			if err != nil || p != e.Prefix {
				t.Fatalf("entry %v (line %q) does not round-trip: %v, %v", e.Prefix, e.Text, p, err)
			}
			if p2, _, err := ParseLine(e.Text); err != nil || p2 != e.Prefix {
				t.Fatalf("entry text %q does not parse back to %v: %v, %v", e.Text, e.Prefix, p2, err)
			}
			if e.Managed != (file.Begin != 0 && e.Line > file.Begin && (file.End == 0 || e.Line < file.End)) {
				t.Fatalf("entry on line %d Managed=%v with block %d..%d", e.Line, e.Managed, file.Begin, file.End)
			}
		}
		if len(file.Prefixes()) != len(file.Entries) {
			t.Fatalf("Prefixes has %d, Entries %d", len(file.Prefixes()), len(file.Entries))
		}
	})
}

// A file of a million bad lines gives a bounded list that still counts
// every line.
func TestParseBoundsFindings(t *testing.T) {
	data := []byte(strings.Repeat("x\n", 1_000_000) + strings.Repeat("10.0.0.0/24\n", 2001))
	_, fs := Parse("/etc/vmware/anyip-routes.cfg", data)
	if len(fs) != 2*finding.DefaultMax+2 {
		t.Fatalf("%d findings kept, want %d of each severity and one that counts the rest", len(fs), finding.DefaultMax)
	}
	if errs, warns := fs.Count(); errs != 1_000_000 || warns != 2000 {
		t.Errorf("the list counts %d errors and %d warnings, want 1000000 and 2000", errs, warns)
	}
	var summaries []string
	for _, f := range fs {
		if f.More > 0 {
			summaries = append(summaries, f.String())
		}
	}
	want := []string{
		"error: /etc/vmware/anyip-routes.cfg:1001: this and 998999 more errors are not shown (fix the ones shown, then look again)",
		"warning: /etc/vmware/anyip-routes.cfg:1001002: this and 999 more warnings are not shown (fix the ones shown, then look again)",
	}
	if !slices.Equal(summaries, want) {
		t.Errorf("summaries %q, want %q", summaries, want)
	}
}

func TestReadRefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.cfg")
	os.Symlink("/dev/zero", zero)
	fifo := filepath.Join(dir, "fifo.cfg")
	syscall.Mkfifo(fifo, 0o644)
	big := filepath.Join(dir, "big.cfg")
	os.WriteFile(big, make([]byte, MaxSize+1), 0o644)
	for _, c := range []struct{ path, want string }{
		{zero, "is a character device, not a regular file"},
		{fifo, "is a FIFO, not a regular file"},
		{big, "more than the 4 MiB limit"},
	} {
		data, found, err := Read(c.path)
		if err != nil || data != nil || len(found) != 1 || found[0].Severity != finding.Error ||
			found[0].Where != c.path || !strings.Contains(found[0].Message, c.want) {
			t.Errorf("Read(%s) = %d bytes, %v, %v; want one error saying %q", c.path, len(data), found, err, c.want)
		}
	}
	if _, _, err := Read(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// A line that does not parse stands for the range its "did you mean"
// names (a first-last line for its span), so check can say an address is
// inside it; a line nothing can be guessed of stands for nothing.
func TestUnparsedMeant(t *testing.T) {
	for _, c := range []struct{ line, meant string }{
		{"10.40.30.130/26", "10.40.30.128/26"},
		{"10.40.30.128 /26", "10.40.30.128/26"},
		{"10.40.30.128/26,10.40.31.0/24", "10.40.30.128/26"},
		{"10.40.30.128/26 # web", "10.40.30.128/26"},
		{"10.40.30.192-10.40.30.250", "10.40.30.192-10.40.30.250"},
		{"10.40.35/24", "10.40.35.0/24"},
		{"10.40.32.0/255.255.255.0", "10.40.32.0/24"},
		{"10.40.30.0/027", "10.40.30.0/27"},
		{"10.40.30.250-10.40.30.192", "10.40.30.192-10.40.30.250"},
		{"fe80::1%eth0/64", "fe80::/64"},
		{"10.40.30.300/26", ""},
		{"10.40.30.0/33", ""},
		{"10.40.30.0/255.0.255.0", ""},
		{"hello", ""},
	} {
		f, fs := Parse("r.cfg", []byte(c.line+"\n"))
		if !fs.HasErrors() {
			t.Errorf("%q parses", c.line)
			continue
		}
		var got string
		if len(f.Unparsed) == 1 {
			got = f.Unparsed[0].String()
		}
		if got != c.meant || len(f.Unparsed) > 1 {
			t.Errorf("%q stands for %q (%v), want %q", c.line, got, f.Unparsed, c.meant)
		}
	}
}
