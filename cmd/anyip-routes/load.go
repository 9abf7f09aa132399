package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"

	"github.com/anyip/anyip/internal/cfgfile"
	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/sysfacts"
	"github.com/anyip/anyip/internal/validate"
)

// loaded is a ranges file read, parsed and checked.
type loaded struct {
	// desired are the file's ranges, sorted and unique; meaningful only
	// when findings hold no error.
	desired []netip.Prefix
	// findings are the file's problems: errors (apply nothing) and
	// warnings (apply, and say so).
	findings finding.List
	// data is the file as read, kept as the last good version.
	data []byte
	// facts are the system's, as the file was checked against them.
	facts validate.Facts
}

// load reads the ranges file and checks it the way first boot checks the
// wizard's ranges: each line must parse, the ranges must not overlap or be
// too large or special, and none may contain the current default gateway,
// a name server of resolv.conf or an address held on a non-loopback
// interface. A missing file is a finding (the operator's to fix); a file
// or system that cannot be read is an error.
func load(o options) (*loaded, error) {
	data, refused, err := cfgfile.Read(o.config)
	if errors.Is(err, fs.ErrNotExist) {
		return &loaded{findings: finding.List{finding.Errorf(o.config, "", cfgfile.MissingHint, "the ranges file does not exist")}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the ranges file: %w", err)
	}
	if refused != nil {
		return &loaded{findings: refused}, nil
	}
	f, fs := cfgfile.Parse(o.config, data)
	// The lines that parse are checked even when others do not, so one
	// round shows every problem; the file is still refused whole. A line
	// that does not parse is in no check: nothing that would only follow
	// from it (an overlap with the range it was meant to be) is said.
	unparsed := fs.HasErrors()
	facts, err := sysfacts.Gather(o.resolvConf)
	if err != nil {
		return nil, fmt.Errorf("read the system's addresses, routes and name servers: %w", err)
	}
	against := validate.Against{Facts: facts, MinBits4: o.limits.Bits4, MinBits6: o.limits.Bits6}
	fs = append(fs, against.File(f)...)
	if unparsed {
		return &loaded{findings: fs}, nil
	}
	return &loaded{desired: f.Prefixes(), findings: fs, data: data, facts: facts}, nil
}

// findingsOrNil is l's findings, or none when l is nil (a read error).
func (l *loaded) findingsOrNil() finding.List {
	if l == nil {
		return nil
	}
	return l.findings
}
