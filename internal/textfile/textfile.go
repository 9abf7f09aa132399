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
		data := bytes.TrimPrefix(data, bom)
		n := 0
		for len(data) > 0 {
			n++
			line := data
			if i := bytes.IndexByte(data, '\n'); i >= 0 {
				line, data = data[:i], data[i+1:]
			} else {
				data = nil
			}
			if !yield(n, bytes.TrimSuffix(line, []byte("\r"))) {
				return
			}
		}
	}
}
