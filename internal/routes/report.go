package routes

import (
	"encoding/json"
	"net/netip"
)

// Report is what a reconcile did to the ranges or, in a dry run, would
// do: the one shape both commands' JSON gives, with the names their text
// uses (added, adopted, removed; kept were there already; in place is the
// table's count for the file afterwards).
type Report struct {
	Added   []string
	Adopted []string
	Removed []string
	Kept    int
}

// InPlace is the number of ranges the table holds for the file.
func (r Report) InPlace() int { return len(r.Added) + len(r.Adopted) + r.Kept }

// Empty reports whether nothing changed (or would).
func (r Report) Empty() bool { return len(r.Added)+len(r.Adopted)+len(r.Removed) == 0 }

// MarshalJSON writes empty lists as [] and adds in_place.
func (r Report) MarshalJSON() ([]byte, error) {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return json.Marshal(struct {
		Added   []string `json:"added"`
		Adopted []string `json:"adopted"`
		Removed []string `json:"removed"`
		Kept    int      `json:"kept"`
		InPlace int      `json:"in_place"`
	}{orEmpty(r.Added), orEmpty(r.Adopted), orEmpty(r.Removed), r.Kept, r.InPlace()})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (r *Report) UnmarshalJSON(b []byte) error {
	var v struct {
		Added, Adopted, Removed []string
		Kept                    int
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Report{v.Added, v.Adopted, v.Removed, v.Kept}
	return nil
}

// ReportOf is what happened: the changes made, and kept ranges that were
// in place already.
func ReportOf(ch Changes, kept int) Report {
	var r Report
	for _, c := range ch.List {
		switch c.Verb {
		case Added:
			r.Added = append(r.Added, c.Prefix.String())
		case Adopted:
			r.Adopted = append(r.Adopted, c.Prefix.String())
		case Removed:
			r.Removed = append(r.Removed, c.Prefix.String())
		}
	}
	r.Kept = kept
	return r
}

// ReportOfPlan is what applying p would do.
func ReportOfPlan(p Plan) Report {
	return Report{Added: strs(p.Add), Adopted: strs(p.Adopt), Removed: strs(p.Delete), Kept: len(p.Keep) + len(p.Kernel)}
}

func strs(ps []netip.Prefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}
