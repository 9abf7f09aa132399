package ovfenv

import (
	"bytes"
)

// repairValues makes the attribute values of a document written without
// escaping them well-formed, as govc's InjectOvfEnv (govmomi's
// ovf.Env.MarshalManual) writes guestinfo.ovfEnv: a '<' inside a quoted
// value becomes &lt;, and an '&' that starts none of XML's entities
// (&amp; &lt; &gt; &apos; &quot; or a character reference) becomes &amp;.
// Both are literal there, since well-formed XML never has them so; a
// well-formed document comes back unchanged. Nothing outside attribute
// values is touched.
//
// A '"' inside a '"'-quoted value cannot be told from the value's end. When
// a value ends where no attribute can follow, the Property's oe:key is
// named (never the value) so the operator knows which field to retype.
func repairValues(data []byte) ([]byte, error) {
	var out []byte // nil until the first change
	emit := func(i int, repl string) {
		if out == nil {
			out = append(make([]byte, 0, len(data)+64), data[:i]...)
		}
		out = append(out, repl...)
	}
	keep := func(i int) {
		if out != nil {
			out = append(out, data[i])
		}
	}
	skipTo := func(i int, end string) int {
		j := bytes.Index(data[i:], []byte(end))
		if j < 0 {
			return len(data)
		}
		return i + j + len(end)
	}
	i := 0
	for i < len(data) {
		if data[i] != '<' {
			keep(i)
			i++
			continue
		}
		// Markup that holds no attributes is copied as it is.
		start := i
		switch {
		case bytes.HasPrefix(data[i:], []byte("<!--")):
			i = skipTo(i, "-->")
		case bytes.HasPrefix(data[i:], []byte("<![CDATA[")):
			i = skipTo(i, "]]>")
		case bytes.HasPrefix(data[i:], []byte("<?")):
			i = skipTo(i, "?>")
		case bytes.HasPrefix(data[i:], []byte("<!")), bytes.HasPrefix(data[i:], []byte("</")):
			i = skipTo(i, ">")
		default:
			var err error
			if i, err = repairTag(data, i, emit, keep); err != nil {
				return nil, err
			}
			continue
		}
		for k := start; k < i; k++ {
			keep(k)
		}
	}
	if out == nil {
		return data, nil
	}
	return out, nil
}

// repairTag copies the start tag at data[i] (a '<'), repairing its quoted
// values, and returns the index after it.
func repairTag(data []byte, i int, emit func(int, string), keep func(int)) (int, error) {
	keep(i)
	i++
	var name, key []byte // the element's name, and its oe:key value
	nameEnd := i
	for nameEnd < len(data) && !isSpace(data[nameEnd]) && data[nameEnd] != '>' && data[nameEnd] != '/' {
		nameEnd++
	}
	name = data[i:nameEnd]
	var attr []byte
	for i < len(data) {
		c := data[i]
		switch {
		case c == '>':
			keep(i)
			return i + 1, nil
		case c == '"' || c == '\'':
			keep(i)
			i++
			valStart := i
			for i < len(data) && data[i] != c {
				switch {
				case data[i] == '<':
					emit(i, "&lt;")
				case data[i] == '&' && !entityAt(data[i:]):
					emit(i, "&amp;")
				default:
					keep(i)
				}
				i++
			}
			if localName(attr) == "key" {
				key = data[valStart:i]
			}
			if i < len(data) {
				keep(i)
				i++
			}
			// After a value comes white space, '/', '>' or '?': anything
			// else means the value held its own quote character.
			if i < len(data) && !isSpace(data[i]) && data[i] != '/' && data[i] != '>' && data[i] != '?' {
				if localName(name) == "Property" && key != nil && localName(attr) == "value" {
					return 0, parseErr(lineAt(data, i), "the value of property %q holds a quote character (%s), which cannot be read: govc's InjectOvfEnv writes values without escaping them; "+
						"retype the value without it, or deploy through vCenter", clip(string(key)), string(c))
				}
			}
			attr = nil
		case c == '=' || isSpace(c):
			keep(i)
			i++
		default:
			// An attribute name (or the element name) up to '=', white
			// space or the tag's end.
			s := i
			for i < len(data) && data[i] != '=' && !isSpace(data[i]) && data[i] != '>' && data[i] != '"' && data[i] != '\'' {
				keep(i)
				i++
			}
			attr = data[s:i]
		}
	}
	return i, nil
}

var entities = [][]byte{[]byte("&amp;"), []byte("&lt;"), []byte("&gt;"), []byte("&apos;"), []byte("&quot;")}

// entityAt reports whether b starts with one of XML's predefined entities
// or a character reference.
func entityAt(b []byte) bool {
	for _, e := range entities {
		if bytes.HasPrefix(b, e) {
			return true
		}
	}
	if len(b) < 4 || b[1] != '#' {
		return false
	}
	j, hex := 2, false
	if b[2] == 'x' {
		j, hex = 3, true
	}
	digits := 0
	for ; j < len(b) && j < 16; j++ {
		c := b[j]
		switch {
		case c == ';':
			return digits > 0
		case c >= '0' && c <= '9', hex && (c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'):
			digits++
		default:
			return false
		}
	}
	return false
}

func localName(b []byte) string {
	if i := bytes.LastIndexByte(b, ':'); i >= 0 {
		b = b[i+1:]
	}
	return string(b)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func lineAt(data []byte, i int) int { return 1 + bytes.Count(data[:i], []byte("\n")) }
