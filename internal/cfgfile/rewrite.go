package cfgfile

import (
	"bytes"
	"net/netip"

	"github.com/anyip/anyip/internal/textfile"
)

// header starts a file first boot creates; an existing file keeps its own.
const header = `# anyip-routes.cfg: the virtual IP ranges this appliance answers for (AnyIP).
# One CIDR per line. Lines starting with # are comments; no inline comments.
# anyip-routes.service applies every change to this file at once.
# Add your own ranges outside the first-boot block: the block is rewritten
# from the vApp property ` + BlockProperty + ` at every boot.
`

// BlockProperty is the vApp property the first-boot block is written from.
const BlockProperty = "loadbalance.service_ip_range"

const beginLine = BeginMarker + " (from vApp property " + BlockProperty + "; rewritten at every boot)"

// Rewrite returns the file with its first-boot block holding ranges, and
// the ranges the new file holds (sorted, unique), from the model: nothing
// is parsed again. Every line outside the block is kept byte for byte. f
// must have parsed without errors (an empty or missing file parses to an
// empty File).
//
// A file from the old appliance has no block, but its first boot wrote the
// wizard's ranges as plain lines. Those lines are taken into the new block
// instead of being left behind as duplicates; other lines stay where they are.
func (f *File) Rewrite(ranges []netip.Prefix) ([]byte, []netip.Prefix) {
	held := make([]netip.Prefix, 0, len(f.Entries)+len(ranges))
	for _, r := range ranges {
		held = append(held, r.Masked())
	}
	skip := f.Taken(ranges) // lines of the old file not copied
	for _, e := range f.Entries {
		if !e.Managed && !skip[e.Line] {
			held = append(held, e.Prefix)
		}
	}

	var out bytes.Buffer
	block := func() {
		out.WriteString(beginLine + "\n")
		for _, r := range ranges {
			out.WriteString(r.String() + "\n")
		}
		out.WriteString(EndMarker + "\n")
	}
	if len(bytes.TrimSpace(f.data)) == 0 {
		out.WriteString(header)
		block()
		return out.Bytes(), SortPrefixes(held)
	}
	for n, line := range textfile.RawLines(f.data) {
		switch {
		case n == f.Begin:
			block()
		case f.Begin != 0 && n > f.Begin && n <= f.End:
		case skip[n]:
		default:
			out.Write(line)
			if !textfile.HasEnd(line) { // a bare CR is a line end too
				out.WriteByte('\n')
			}
		}
	}
	if f.Begin == 0 {
		block()
	}
	return out.Bytes(), SortPrefixes(held)
}

// Taken returns the lines of a file without a first-boot block (the old
// appliance's) that Rewrite takes into its new block because they hold one
// of ranges: they move, so they are no duplicates of the block.
func (f *File) Taken(ranges []netip.Prefix) map[int]bool {
	taken := map[int]bool{}
	if f.Begin != 0 {
		return taken
	}
	want := make(map[netip.Prefix]bool, len(ranges))
	for _, r := range ranges {
		want[r.Masked()] = true
	}
	for _, e := range f.Entries {
		if want[e.Prefix] {
			taken[e.Line] = true
		}
	}
	return taken
}
