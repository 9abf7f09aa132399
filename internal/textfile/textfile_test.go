package textfile

import (
	"slices"
	"strings"
	"testing"
)

func TestLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"\n", []string{""}},
		{"a", []string{"a"}},
		{"a\n", []string{"a"}},
		{"a\nb", []string{"a", "b"}},
		{"a\r\nb\r\n", []string{"a", "b"}},
		{"a\r\r\nb", []string{"a", "", "b"}},
		{"\n\na\n", []string{"", "", "a"}},
		{"a\rb\n", []string{"a", "b"}},
		{"a\rb\rc", []string{"a", "b", "c"}}, // old Mac line ends
		{"a\r\rb\r", []string{"a", "", "b"}},
		{"a\n\rb", []string{"a", "", "b"}},
		{"\r", []string{""}},
		{"\ufeffa\n\ufeffb", []string{"a", "\ufeffb"}}, // only a leading mark is dropped
	} {
		var got []string
		n := 0
		for i, l := range Lines([]byte(c.in)) {
			n++
			if i != n {
				t.Errorf("%q: line number %d, want %d", c.in, i, n)
			}
			got = append(got, string(l))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Lines(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	// Stopping early is honoured.
	n := 0
	for range Lines([]byte("a\nb\nc\n")) {
		n++
		break
	}
	if n != 1 {
		t.Errorf("iterated %d lines after break", n)
	}
}

// RawLines gives the line ends as they were, so a writer can copy lines
// byte for byte: the lines put back together are the input, and cut where
// Lines cuts.
func TestRawLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a\nb", []string{"a\n", "b"}},
		{"a\r\nb", []string{"a\r\n", "b"}},
		{"a\rb", []string{"a\r", "b"}},
		{"a\r", []string{"a\r"}},
		{"a\r\r\n", []string{"a\r", "\r\n"}},
		{"\n\r", []string{"\n", "\r"}},
		{"\ufeffa\r", []string{"\ufeffa\r"}},
	} {
		var got []string
		var lines []string
		for n, l := range RawLines([]byte(c.in)) {
			if n != len(got)+1 {
				t.Errorf("%q: line number %d, want %d", c.in, n, len(got)+1)
			}
			if len(got) > 0 && !HasEnd([]byte(got[len(got)-1])) {
				t.Errorf("%q: line %d %q has no end but is not the last", c.in, n-1, got[len(got)-1])
			}
			got = append(got, string(l))
		}
		for _, l := range Lines([]byte(c.in)) {
			lines = append(lines, string(l))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("RawLines(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Join(got, "") != c.in {
			t.Errorf("RawLines(%q) lost bytes: %q", c.in, got)
		}
		if len(lines) != len(got) {
			t.Errorf("%q: %d raw lines, %d lines", c.in, len(got), len(lines))
		}
	}
}
