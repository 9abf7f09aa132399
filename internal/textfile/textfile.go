// Package textfile reads the line-oriented files operators edit by hand
// (anyip-routes.cfg, haproxy.cfg, resolv.conf) the same way: numbered
// lines ending in "\n", "\r\n" or a bare "\r" (the old Mac line end, which
// some editors and transfer tools still write), a leading UTF-8 byte-order
// mark ignored. A bare CR is a line end, never part of a line: read as
// text, a file with CR line ends would be one long line, which for the
// ranges file is one comment and no ranges at all.
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
			if !yield(n, TrimEnd(line)) {
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
		for n := 1; len(data) > 0; n++ {
			end := len(data)
			if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
				end = i + 1
				if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
					end++
				}
			}
			if !yield(n, data[:end:end]) {
				return
			}
			data = data[end:]
		}
	}
}

// TrimEnd drops the line end of a line of RawLines: "\r\n", "\n" or "\r".
func TrimEnd(line []byte) []byte {
	if l, ok := bytes.CutSuffix(line, []byte("\n")); ok {
		return bytes.TrimSuffix(l, []byte("\r"))
	}
	return bytes.TrimSuffix(line, []byte("\r"))
}

// HasEnd reports whether a line of RawLines has its line end (the last
// line of a file may lack one).
func HasEnd(line []byte) bool {
	return len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r')
}
