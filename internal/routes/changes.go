package routes

import (
	"fmt"
	"net/netip"
)

// What happened to a range, as every report says it.
const (
	Added   = "added"
	Adopted = "adopted"
	Removed = "removed"
)

// Change is one route change that happened.
type Change struct {
	Verb   string // Added, Adopted or Removed
	Prefix netip.Prefix
}

// Changes is what a reconcile did: the one list the log, the state record
// and both commands' reports are written from.
type Changes struct {
	List                    []Change
	Added, Adopted, Removed int
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool { return len(c.List) == 0 }

// Summary counts the changes: "1 added, 0 adopted, 2 removed".
func (c Changes) Summary() string {
	return fmt.Sprintf("%d added, %d adopted, %d removed", c.Added, c.Adopted, c.Removed)
}

// ChangesOf lists what applying p did: the plan less its failures, in the
// order Apply works (adoptions, additions, deletions).
func ChangesOf(p Plan, r Result) Changes {
	failed := make(map[string]bool, len(r.Failures))
	for _, f := range r.Failures {
		failed[f.Op+" "+f.Prefix.String()] = true
	}
	var c Changes
	add := func(op, verb string, ps []netip.Prefix, n *int) {
		for _, p := range ps {
			if len(failed) > 0 && failed[op+" "+p.String()] {
				continue
			}
			c.List = append(c.List, Change{verb, p})
			*n++
		}
	}
	add("adopt", Adopted, p.Adopt, &c.Adopted)
	add("add", Added, p.Add, &c.Added)
	add("delete", Removed, p.Delete, &c.Removed)
	return c
}
