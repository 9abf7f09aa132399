package ovfenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anyip/anyip/internal/ovfenv/isotest"
)

// isoEntry and isoSpec are isotest's Entry and Spec in the short form the
// tables below use.
type isoEntry struct {
	name  string // as stored: "OVF-ENV.XML;1" for the primary tree, plain for Joliet
	data  []byte
	flags byte
	// size, when non-zero, overrides the recorded size (to fake huge files).
	size uint32
}

type isoSpec struct {
	primary   []isoEntry
	joliet    []isoEntry // nil: no Joliet descriptor
	blockSize uint16     // 0: 2048
}

// buildISO writes a minimal ISO 9660 image with isotest.Build.
func buildISO(t testing.TB, spec isoSpec) []byte {
	t.Helper()
	entries := func(es []isoEntry) []isotest.Entry {
		if es == nil {
			return nil
		}
		out := make([]isotest.Entry, 0, len(es))
		for _, e := range es {
			out = append(out, isotest.Entry{Name: e.name, Data: e.data, Flags: e.flags, Size: e.size})
		}
		return out
	}
	return isotest.Build(t, isotest.Spec{Primary: entries(spec.primary), Joliet: entries(spec.joliet), BlockSize: spec.blockSize})
}

const isoXML = `<?xml version="1.0" encoding="UTF-8"?>
<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:oe="http://schemas.dmtf.org/ovf/environment/1">
<PropertySection><Property oe:key="network.hostname" oe:value="from-iso"/></PropertySection>
</Environment>
`

func TestReadISO(t *testing.T) {
	xml := []byte(isoXML)
	other := []byte("not this one")
	manyEntries := func() []isoEntry {
		var es []isoEntry
		for i := range 80 { // spills the root directory over a sector boundary
			es = append(es, isoEntry{name: fmt.Sprintf("FILLER%02d.TXT;1", i), data: other})
		}
		return append(es, isoEntry{name: "OVF-ENV.XML;1", data: xml})
	}
	tests := []struct {
		name    string
		spec    isoSpec
		want    []byte
		wantErr string
	}{
		{name: "level 2 upper case with version", spec: isoSpec{primary: []isoEntry{{name: "OVF-ENV.XML;1", data: xml}}}, want: xml},
		{name: "lower case without version", spec: isoSpec{primary: []isoEntry{{name: "ovf-env.xml", data: xml}}}, want: xml},
		{name: "level 1 mangled hyphen", spec: isoSpec{primary: []isoEntry{{name: "OVF_ENV.XML;1", data: xml}}}, want: xml},
		{name: "other files first", spec: isoSpec{primary: []isoEntry{{name: "README.TXT;1", data: other}, {name: "OVF-ENV.XML;1", data: xml}}}, want: xml},
		{name: "directory spanning two sectors", spec: isoSpec{primary: manyEntries()}, want: xml},
		{name: "only in Joliet tree", spec: isoSpec{
			primary: []isoEntry{{name: "OVFENV00.XML;1", data: other}},
			joliet:  []isoEntry{{name: "ovf-env.xml", data: xml}},
		}, want: xml},
		{name: "block size 512", spec: isoSpec{primary: []isoEntry{{name: "OVF-ENV.XML;1", data: xml}}, blockSize: 512}, want: xml},
		{name: "similar names do not match", spec: isoSpec{primary: []isoEntry{
			{name: "OVF-ENV.XMLX;1", data: other}, {name: "OVF-ENV.TXT;1", data: other}, {name: "XOVF-ENV.XML;1", data: other},
		}}, wantErr: "no ovf-env.xml in the root directory"},
		{name: "no file", spec: isoSpec{primary: nil}, wantErr: "no ovf-env.xml"},
		{name: "a directory of that name", spec: isoSpec{primary: []isoEntry{{name: "OVF-ENV.XML", flags: 0x02, data: other}}}, wantErr: "is a directory"},
		{name: "multi-extent", spec: isoSpec{primary: []isoEntry{{name: "OVF-ENV.XML;1", flags: 0x80, data: xml}}}, wantErr: "several extents"},
		{name: "too large", spec: isoSpec{primary: []isoEntry{{name: "OVF-ENV.XML;1", data: xml, size: MaxSize + 1}}}, wantErr: "byte limit"},
		{name: "bad block size", spec: isoSpec{primary: []isoEntry{{name: "OVF-ENV.XML;1", data: xml}}, blockSize: 1000}, wantErr: "logical block size 1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := buildISO(t, tt.spec)
			got, err := readISO(bytes.NewReader(img))
			checkResult(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestReadISOMalformed(t *testing.T) {
	good := buildISO(t, isoSpec{primary: []isoEntry{{name: "OVF-ENV.XML;1", data: []byte(isoXML)}}})
	tests := []struct {
		name    string
		img     []byte
		wantErr string
	}{
		{"empty", nil, "reading volume descriptor 0"},
		{"no signature", make([]byte, 40000), "not an ISO 9660 image"},
		{"truncated after descriptors", good[:18*2048], "reading the root directory"},
		{"truncated file data", good[:len(good)-2048], "reading ovf-env.xml"},
		{"root record too short", patch(good, 16*2048+156, 10), "root directory record"},
		{"entry record shorter than its name", patch(good, 18*2048+68, 34), "malformed directory record"},
		{"only a terminator", patch(good, 16*2048, 255), "no primary volume descriptor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readISO(bytes.NewReader(tt.img))
			checkResult(t, got, err, nil, tt.wantErr)
		})
	}
}

func patch(b []byte, off int, v byte) []byte {
	c := bytes.Clone(b)
	c[off] = v
	return c
}

func checkResult(t *testing.T, got []byte, err error, want []byte, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want one containing %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestReadISOFromTools checks the reader against images made by real
// ISO tools, whose layout (path tables, Rock Ridge, Joliet) the Go writer
// above does not reproduce. Without any tool installed, it still runs
// against the Go writer and says so.
func TestReadISOFromTools(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "ovf-env.xml"), []byte(isoXML), 0o644); err != nil {
		t.Fatal(err)
	}
	type builder struct {
		name string
		args []string // after the program name; output and source appended
	}
	var builders []builder
	for _, tool := range []string{"xorriso", "genisoimage", "mkisofs"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		pre := []string{}
		if tool == "xorriso" {
			pre = []string{"-as", "mkisofs"}
		}
		builders = append(builders,
			builder{tool + " plain", append(append([]string{}, pre...), "-quiet")},
			builder{tool + " Joliet+RockRidge", append(append([]string{}, pre...), "-quiet", "-J", "-R")},
			builder{tool + " level 2", append(append([]string{}, pre...), "-quiet", "-iso-level", "2")},
		)
	}
	if len(builders) == 0 {
		t.Log("no xorriso, genisoimage or mkisofs on PATH (apt-get install -y xorriso); checking the Go writer only")
		img := buildISO(t, isoSpec{primary: []isoEntry{{name: "OVF-ENV.XML;1", data: []byte(isoXML)}}})
		got, err := readISO(bytes.NewReader(img))
		checkResult(t, got, err, []byte(isoXML), "")
		return
	}
	for _, b := range builders {
		t.Run(b.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "env.iso")
			prog := strings.Fields(b.name)[0]
			cmd := exec.Command(prog, append(b.args, "-V", "OVF ENV", "-o", out, src)...)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", prog, err, msg)
			}
			got, err := FromPath(out, nil).Read(t.Context())
			checkResult(t, got, err, []byte(isoXML), "")
		})
	}
}
