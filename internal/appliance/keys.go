package appliance

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/ovf"
)

// maxKeyFindings bounds the findings about keys, each kind, so a document
// of thousands of stray properties gives a readable report; the rest are
// counted in one more finding.
const maxKeyFindings = 20

// checkKeys looks at the keys of the environment that are not the
// descriptor's. A key the descriptor has but for case, surrounding or
// inner space, or '-' for '_' is an error: the operator meant that key,
// and reading its default instead (for the ranges: none) would take the
// VIPs down while looking like success. Any other stray key is a warning,
// with the closest known key when one is near. Values are never shown:
// a misspelt key may hold a password.
func checkKeys(raw map[string]string) finding.List {
	known := knownKeys()
	if len(known) == 0 {
		return nil
	}
	byCanon := make(map[string]string, len(known))
	for _, k := range known {
		byCanon[canonKey(k)] = k
	}
	var stray []string
	for k := range raw {
		if !slices.Contains(known, k) {
			stray = append(stray, k)
		}
	}
	slices.Sort(stray)

	var near, unknown finding.List
	var moreNear, moreUnknown int
	for _, k := range stray {
		if want, ok := byCanon[canonKey(k)]; ok {
			if len(near) == maxKeyFindings {
				moreNear++
				continue
			}
			near = append(near, finding.Errorf(want, "",
				fmt.Sprintf("spell the key exactly %s (keys are case-sensitive, without spaces)", want),
				"the OVF environment has the key %q, not %q: the property was not read, and nothing was changed", finding.Clip(k), want))
			continue
		}
		if len(unknown) == maxKeyFindings {
			moreUnknown++
			continue
		}
		hint := "remove it, or check that the OVA's descriptor and this version of anyip agree"
		if m := closestKey(k, known); m != "" {
			hint = fmt.Sprintf("did you mean %s?", m)
		}
		unknown = append(unknown, finding.Warnf(finding.Clip(k), "", hint, "is not a property anyip reads; it is ignored"))
	}
	if moreNear > 0 {
		near = append(near, finding.Errorf("OVF environment", "", "spell every key exactly as the descriptor does",
			"%d more keys differ from a known key only in case or spacing", moreNear))
	}
	if moreUnknown > 0 {
		unknown = append(unknown, finding.Warnf("OVF environment", "", "remove them, or check the OVA's descriptor",
			"%d more keys are not properties anyip reads", moreUnknown))
	}
	return append(near, unknown...)
}

// knownKeys are the descriptor's keys: the one list of what a wizard
// deployment sends.
func knownKeys() []string {
	ps, err := ovf.Properties()
	if err != nil {
		return nil
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Key
	}
	return out
}

// canonKey folds what a person or a script changes in a key without
// meaning another one: case, white space anywhere (and a BOM), '-' for '_'.
func canonKey(k string) string {
	var b strings.Builder
	for _, r := range k {
		switch {
		case unicode.IsSpace(r) || r == '\ufeff':
		case r == '-':
			b.WriteByte('_')
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// closestKey returns the known key nearest to k, when one is near enough
// to be a typo: the key without its class ("service_ip_range"), or at
// most a few edits away.
func closestKey(k string, known []string) string {
	c := canonKey(k)
	if len(c) > 128 {
		return ""
	}
	best, bestD := "", 4
	for _, want := range known {
		wc := canonKey(want)
		if _, local, ok := strings.Cut(wc, "."); ok && local == c {
			return want
		}
		if d := editDistance(c, wc, bestD); d < bestD {
			best, bestD = want, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or limit when it is
// limit or more (the length difference alone often says so).
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], limit)
}
