// Package textfile reads the line-oriented files operators edit by hand
// (anyip-routes.cfg, haproxy.cfg) the same way: numbered lines, "\n" or
// "\r\n" ends, a leading UTF-8 byte-order mark ignored.
package textfile

import (
	"bytes"
	"iter"
)

var bom = []byte("\ufeff")

// Lines yields each line of data with its 1-based number, without its
// line end. A byte-order mark some Windows editors put first is dropped.
func Lines(data []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		for n, line := range RawLines(data) {
			if n == 1 {
				line = bytes.TrimPrefix(line, bom)
			}
			line = bytes.TrimSuffix(line, []byte("\n"))
			if !yield(n, bytes.TrimSuffix(line, []byte("\r"))) {
				return
			}
		}
	}
}

// RawLines yields the same lines as Lines, numbered alike, but as they
// are: with their line end and, on the first, a byte-order mark. A writer
// that keeps lines byte for byte (the ranges file's hand edits) cuts the
// file where the reader does.
func RawLines(data []byte) iter.Seq2[int, []byte] {
	return func(yield func(int, []byte) bool) {
		n := 0
		for len(data) > 0 {
			n++
			line := data
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				line, data = data[:i+1], data[i+1:]
			} else {
				data = nil
			}
			if !yield(n, line) {
				return
			}
		}
	}
}
