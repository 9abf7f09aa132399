package finding

// Bounded collects findings, keeping at most Max of each severity (in the
// order given) and counting the rest. A file of a million bad lines, or a
// list of 300,000 ranges that each earn a warning, is fixed from the first
// few findings; keeping all of them would cost more memory than the input.
type Bounded struct {
	Max     int
	list    List
	kept    [2]int // by Severity
	omitted [2]int
	first   [2]string // Where of the first finding not kept
}

// DefaultMax is the bound the parsers and checks use.
const DefaultMax = 1000

// Add keeps f, or counts it when Max of its severity are kept already.
func (b *Bounded) Add(f Finding) {
	max := b.Max
	if max <= 0 {
		max = DefaultMax
	}
	if b.kept[f.Severity] >= max {
		if b.omitted[f.Severity] == 0 {
			b.first[f.Severity] = f.Where
		}
		b.omitted[f.Severity]++
		return
	}
	b.kept[f.Severity]++
	b.list = append(b.list, f)
}

// List returns what was kept, followed by one finding for each severity
// that had more, placed where the first of them was, saying how many and
// counting them (Finding.More), so List.Count stays true.
func (b *Bounded) List() List {
	out := b.list
	if n := b.omitted[Error]; n > 0 {
		f := Errorf(b.first[Error], "", "fix the ones shown, then look again", "this and %d more errors are not shown", n-1)
		f.More = n - 1
		out = append(out, f)
	}
	if n := b.omitted[Warning]; n > 0 {
		f := Warnf(b.first[Warning], "", "fix the ones shown, then look again", "this and %d more warnings are not shown", n-1)
		f.More = n - 1
		out = append(out, f)
	}
	return out
}
