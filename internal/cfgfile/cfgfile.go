// Package cfgfile reads anyip-routes.cfg, the one file both commands and
// the old shell service agree on: one CIDR a line, lines starting with '#'
// are comments, no inline comments. Ranges written by first boot sit
// between two marker comments; everything else is the operator's.
package cfgfile

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/ipx"
	"github.com/anyip/anyip/internal/textfile"
	"go4.org/netipx"
)

// DefaultPath is where the appliance keeps the file.
const DefaultPath = "/etc/vmware/anyip-routes.cfg"

// MissingHint is what to do when the file does not exist, for every
// command that reads it. A missing file is refused, not read as "no
// ranges": a mistyped path must not take every VIP down. An empty file is
// how to say none; first boot writes the file from the vApp properties.
const MissingHint = "create it with one range (CIDR) a line, or empty for no ranges; " +
	"`systemctl restart anyip-firstboot` writes it from the vApp properties"

// The markers are comments, so the old shell service skips them. They are
// matched by prefix so the explanatory tail can change between versions.
const (
	BeginMarker = "# BEGIN anyip-firstboot"
	EndMarker   = "# END anyip-firstboot"
)

// MaxSize bounds what we read: some 250,000 one-line ranges, and what
// parsing and checking that many takes stays within the commands' memory
// bound (see cli.MemoryLimit).
const MaxSize = 4 << 20

// Entry is one range line.
type Entry struct {
	Line    int          // 1-based
	Text    string       // the line as written, trimmed
	Prefix  netip.Prefix // masked
	Managed bool         // inside the first-boot block
}

// Unparsed is a line that does not parse, and the addresses it most
// likely stands for.
type Unparsed struct {
	Line  int
	Text  string
	Meant netipx.IPRange
}

// String names the range: a CIDR when it is one, else first-last.
func (u Unparsed) String() string {
	if p, ok := u.Meant.Prefix(); ok {
		return p.String()
	}
	return u.Meant.String()
}

// File is a parsed anyip-routes.cfg.
type File struct {
	Path    string
	Entries []Entry
	// Begin and End are the 1-based lines of the block markers, 0 when
	// the file has no block (a new file, or one from the old appliance).
	Begin, End int
	// Unparsed are the lines that do not parse but whose text still
	// names a range: what the operator meant, the range the line's "did
	// you mean" names (or a first-last line's span), for check to say
	// that an address is inside a broken line's range.
	Unparsed []Unparsed
	// data is what was parsed, for Rewrite.
	data []byte
}

// Where names a line for messages: "path:line".
func (f *File) Where(line int) string { return fmt.Sprintf("%s:%d", f.Path, line) }

// Parse reads the file's bytes. Findings carry path:line and the line's
// text; any error means the file must not be applied (a file is applied
// whole or not at all).
func Parse(path string, data []byte) (*File, finding.List) {
	f := &File{Path: path, data: data}
	if len(data) > MaxSize {
		return f, finding.List{finding.Errorf(path, "", fmt.Sprintf("keep the file under %d MiB", MaxSize>>20), "is %d bytes long", len(data))}
	}
	// A file of a million bad lines must not cost a million findings.
	var fs finding.Bounded
	seen := make(map[netip.Prefix]int)
	for n, raw := range textfile.Lines(data) {
		line := strings.TrimSpace(string(raw))
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, BeginMarker):
			if f.Begin != 0 {
				fs.Add(finding.Errorf(f.Where(n), line, fmt.Sprintf("delete one of the two; the first is on line %d", f.Begin), "the first-boot block begins twice"))
				continue
			}
			f.Begin = n
			continue
		case strings.HasPrefix(line, EndMarker):
			if f.Begin == 0 || f.End != 0 {
				fs.Add(finding.Errorf(f.Where(n), line, "delete this line, or put the matching BEGIN line back", "the first-boot block ends without beginning"))
				continue
			}
			f.End = n
			continue
		case line[0] == '#':
			continue
		}
		p, bad := parseLine(line)
		if bad != nil {
			fs.Add(finding.Errorf(f.Where(n), line, bad.Hint, "%s", bad.Problem))
			if bad.Meant.IsValid() && len(f.Unparsed) < maxUnparsed {
				f.Unparsed = append(f.Unparsed, Unparsed{Line: n, Text: line, Meant: bad.Meant})
			}
			continue
		}
		if first, dup := seen[p]; dup {
			fs.Add(finding.Warnf(f.Where(n), line, "delete one of them", "%s is listed again (first on line %d)", p, first))
			continue
		}
		seen[p] = n
		f.Entries = append(f.Entries, Entry{Line: n, Text: line, Prefix: p, Managed: f.Begin != 0 && f.End == 0})
	}
	if f.Begin != 0 && f.End == 0 {
		fs.Add(finding.Errorf(f.Where(f.Begin), BeginMarker, "put the line "+EndMarker+" after the managed ranges, or delete this line",
			"the first-boot block begins but never ends"))
	}
	return f, fs.List()
}

// ParseLine reads one range line. Like the old shell service (which handed
// the line to `ip route add local`), a bare address means that one
// address. A prefix with host bits set is refused rather than masked: the
// operator meant something, and we should not guess which.
func ParseLine(line string) (netip.Prefix, string, error) {
	p, bad := parseLine(line)
	if bad != nil {
		return netip.Prefix{}, bad.Hint, errors.New(bad.Problem)
	}
	return p, "", nil
}

// lineSyntax is how a line's CIDR is read: first-last, as the wizard and
// vSphere with Tanzu write ranges, is taken when it is exactly one CIDR.
var lineSyntax = ipx.Syntax{Bare: true, Ranges: true, Masked: true}

// parseLine is ParseLine with what a line that does not parse most
// likely stands for (BadPrefix.Meant): the range its "did you mean"
// names, for check to say that an address is inside a broken line's range.
func parseLine(line string) (netip.Prefix, *ipx.BadPrefix) {
	if i := strings.IndexByte(line, '#'); i > 0 {
		return netip.Prefix{}, &ipx.BadPrefix{Problem: "has an inline comment, which the file format does not allow",
			Hint: "move the comment to a line of its own starting with #", Meant: meantBy(line[:i])}
	}
	if t := ipx.Tidy(line); strings.ContainsAny(t, " \t,;") {
		first := strings.FieldsFunc(t, func(r rune) bool { return strings.ContainsRune(" \t,;", r) })
		bad := &ipx.BadPrefix{Problem: "holds more than one value", Hint: "put one CIDR on each line"}
		if len(first) > 0 {
			bad.Meant = meantBy(first[0])
		}
		return netip.Prefix{}, bad
	}
	p, err := lineSyntax.Parse(line)
	if err != nil {
		bad := err.(*ipx.BadPrefix)
		if bad.Cover != nil {
			bad.Hint = "write " + ipx.FormatPrefixes(bad.Cover) + ", one a line"
		}
		return netip.Prefix{}, bad
	}
	return p, nil
}

// meantBy is the range s stands for, parsed or not.
func meantBy(s string) netipx.IPRange {
	p, err := lineSyntax.Parse(s)
	if err != nil {
		return err.(*ipx.BadPrefix).Meant
	}
	return netipx.RangeOfPrefix(p)
}

// maxUnparsed bounds File.Unparsed, as findings are bounded.
const maxUnparsed = 1000

// Prefixes returns the file's ranges, sorted, without duplicates.
func (f *File) Prefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(f.Entries))
	for _, e := range f.Entries {
		out = append(out, e.Prefix)
	}
	return SortPrefixes(out)
}

// SortPrefixes sorts in place by address then length, drops duplicates and
// returns the result. IPv4 sorts before IPv6.
func SortPrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, ComparePrefix)
	return slices.Compact(ps)
}

// ComparePrefix orders by address, then by length.
func ComparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// Read reads the file at path, at most MaxSize bytes. A path that is not a
// regular file (a link to /dev/zero, a FIFO) or is too large is the
// operator's to fix, like a bad line: it comes back as a finding, and
// nothing is applied. The error is for what the system failed at (and
// fs.ErrNotExist, which each caller treats its own way).
func Read(path string) ([]byte, finding.List, error) {
	data, err := textfile.ReadFile(path, MaxSize)
	var fe *textfile.FileError
	switch {
	case errors.As(err, &fe) && fe.Kind == textfile.ErrNotRegular:
		return nil, finding.List{finding.Errorf(path, "", "make it a regular file with one range (CIDR) a line; a symlink must point at one",
			"%s", fe.Reason)}, nil
	case errors.As(err, &fe) && fe.Kind == textfile.ErrTooLarge:
		return nil, finding.List{finding.Errorf(path, "", fmt.Sprintf("keep the file under %d MiB", MaxSize>>20), "%s", fe.Reason)}, nil
	}
	return data, nil, err
}
