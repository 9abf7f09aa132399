// Package render produces the bytes of the files the appliance writes.
// Rendering is pure; WriteFile is the one piece of I/O, shared by every
// writer so all of them are atomic.
package render

import (
	"bytes"
	"net/netip"

	"github.com/anyip/anyip/internal/cfgfile"
)

// header starts a file first boot creates; an existing file keeps its own.
const header = `# anyip-routes.cfg: the virtual IP ranges this appliance answers for (AnyIP).
# One CIDR per line. Lines starting with # are comments; no inline comments.
# anyip-routes.service applies every change to this file at once.
# Add your own ranges outside the first-boot block: the block is rewritten
# from the vApp property loadbalance.service_ip_range at every boot.
`

const (
	beginLine = cfgfile.BeginMarker + " (from vApp property loadbalance.service_ip_range; rewritten at every boot)"
	endLine   = cfgfile.EndMarker
)

// Cfg returns anyip-routes.cfg with the first-boot block holding ranges.
// Every line outside the block is kept byte for byte. The old file must
// have parsed without errors (f is its parse, old its bytes; nil for a
// new file).
//
// A file from the old appliance has no block, but its first boot wrote the
// wizard's ranges as plain lines. Those lines are taken into the new block
// instead of being left behind as duplicates; other lines stay where they are.
func Cfg(old []byte, f *cfgfile.File, ranges []netip.Prefix) []byte {
	var out bytes.Buffer
	block := func() {
		out.WriteString(beginLine + "\n")
		for _, r := range ranges {
			out.WriteString(r.String() + "\n")
		}
		out.WriteString(endLine + "\n")
	}
	if len(bytes.TrimSpace(old)) == 0 {
		out.WriteString(header)
		block()
		return out.Bytes()
	}

	skip := make(map[int]bool) // lines of the old file not copied
	if f.Begin == 0 {
		want := make(map[netip.Prefix]bool, len(ranges))
		for _, r := range ranges {
			want[r] = true
		}
		for _, e := range f.Entries {
			if want[e.Prefix] {
				skip[e.Line] = true
			}
		}
	}
	n := 0
	for len(old) > 0 {
		n++
		line := old
		if i := bytes.IndexByte(old, '\n'); i >= 0 {
			line, old = old[:i+1], old[i+1:]
		} else {
			old = nil
		}
		switch {
		case n == f.Begin:
			block()
		case f.Begin != 0 && n > f.Begin && n <= f.End:
		case skip[n]:
		default:
			out.Write(line)
			if line[len(line)-1] != '\n' {
				out.WriteByte('\n')
			}
		}
	}
	if f.Begin == 0 {
		block()
	}
	return out.Bytes()
}
