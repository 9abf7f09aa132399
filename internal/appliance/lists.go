package appliance

import (
	"fmt"
	"strings"

	"github.com/anyip/anyip/internal/finding"
)

// listShape warns about how a list of CIDRs is separated when it is not
// as the wizard's label says (comma-separated). The old appliance split
// these values at commas only, so deployments typed "a,b" or "a, b"; those
// pass silently. Semicolons or white space alone between items are read
// as separators still (nothing else can be meant) but warned about: the
// next tool that reads the value may not. An empty item between two
// commas is most likely an entry deleted or not pasted: warned, naming
// where. A comma at either end, or "null" (automation's unset entry), is
// left alone.
func listShape(p Properties) finding.List {
	var fs finding.List
	for _, key := range []string{KeyServiceRanges, KeyAdditionalNetworks} {
		v := p[key]
		if v == "" {
			continue
		}
		// "a - b" and "a / n" are one item, whose own error (if any)
		// says what is wrong with it.
		joined := spacedSlash.ReplaceAllString(spacedDash.ReplaceAllString(v, "-"), "/")
		parts := strings.Split(joined, ",")
		var items []string
		other := ""
		for i, part := range parts {
			part = strings.TrimSpace(part)
			if part == "" {
				if i > 0 && i < len(parts)-1 {
					after := ""
					if len(items) > 0 {
						after = fmt.Sprintf(" (after item %d, %s)", len(items), items[len(items)-1])
					}
					fs = append(fs, warnAt(key, v, "remove the extra comma, or write the missing item",
						"has an empty item between two commas%s: is an item missing?", after))
				}
				continue
			}
			if strings.ContainsRune(part, ';') && other == "" {
				other = `";"`
			} else if strings.ContainsAny(part, " \t\r\n") && other == "" {
				other = "white space"
			}
			items = append(items, part)
		}
		if other == "" {
			continue
		}
		split := SplitList(joined)
		read := fmt.Sprintf("%d items", len(split))
		if len(split) <= 4 {
			read += ": " + strings.Join(split, ", ")
		}
		fs = append(fs, warnAt(key, v, fmt.Sprintf("separate the items with commas, e.g. %q", strings.Join(split[:min(len(split), 2)], ", ")),
			"separates items with %s rather than commas; read as %s", other, read))
	}
	return fs
}
