package textfile

import (
	"slices"
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
		{"a\r\r\nb", []string{"a\r", "b"}},
		{"\n\na\n", []string{"", "", "a"}},
		{"a\rb\n", []string{"a\rb"}},
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
