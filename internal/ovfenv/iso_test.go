package ovfenv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

// isoEntry is one file (or directory, with flags) in the root directory of
// a test image.
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

// buildISO writes a minimal ISO 9660 image: system area, a primary (and
// optionally a Joliet) volume descriptor, a terminator, the root
// directories and the file data. It carries no path tables: the reader
// under test does not use them.
func buildISO(t testing.TB, spec isoSpec) []byte {
	t.Helper()
	const sector = 2048
	bs := spec.blockSize
	if bs == 0 {
		bs = 2048
	}
	nVD := 2
	if spec.joliet != nil {
		nVD = 3
	}
	next := 16 + nVD // next free sector

	type tree struct {
		entries []isoEntry
		joliet  bool
		dirLBA  int
		dir     []byte
		dataLBA []int
	}
	trees := []*tree{{entries: spec.primary}}
	if spec.joliet != nil {
		trees = append(trees, &tree{entries: spec.joliet, joliet: true})
	}
	// Directory sizes first, to know where data goes.
	dirBytes := func(tr *tree) []byte {
		var dir []byte
		add := func(rec []byte) {
			if len(dir)/sector != (len(dir)+len(rec)-1)/sector {
				dir = append(dir, make([]byte, sector-len(dir)%sector)...)
			}
			dir = append(dir, rec...)
		}
		dirSize := 0 // patched below
		add(dirRecord34(tr.dirLBA, dirSize, 0x02, []byte{0}))
		add(dirRecord34(tr.dirLBA, dirSize, 0x02, []byte{1}))
		for i, e := range tr.entries {
			name := []byte(e.name)
			if tr.joliet {
				var b []byte
				for _, u := range utf16.Encode([]rune(e.name)) {
					b = binary.BigEndian.AppendUint16(b, u)
				}
				name = b
			}
			size := uint32(len(e.data))
			if e.size != 0 {
				size = e.size
			}
			lba := 0
			if tr.dataLBA != nil {
				lba = tr.dataLBA[i]
			}
			add(dirRecord34(lba, int(size), e.flags, name))
		}
		if rem := len(dir) % sector; rem != 0 {
			dir = append(dir, make([]byte, sector-rem)...)
		}
		return dir
	}
	for _, tr := range trees {
		tr.dirLBA = next
		tr.dir = dirBytes(tr)
		next += len(tr.dir) / sector
	}
	for _, tr := range trees {
		for _, e := range tr.entries {
			tr.dataLBA = append(tr.dataLBA, next)
			next += (len(e.data) + sector - 1) / sector
			if len(e.data) == 0 {
				next++
			}
		}
		tr.dir = dirBytes(tr) // now with the real data locations
		// "." and ".." carry the directory's own size.
		for _, off := range []int{0, 34} {
			binary.LittleEndian.PutUint32(tr.dir[off+10:], uint32(len(tr.dir)))
			binary.BigEndian.PutUint32(tr.dir[off+14:], uint32(len(tr.dir)))
		}
	}

	img := make([]byte, next*sector)
	vd := func(i int, typ byte, tr *tree) {
		b := img[(16+i)*sector : (17+i)*sector]
		b[0] = typ
		copy(b[1:6], "CD001")
		b[6] = 1
		if tr == nil {
			return
		}
		copy(b[8:40], bytes.Repeat([]byte(" "), 32))
		copy(b[40:72], fmt.Sprintf("%-32s", "OVF ENV"))
		if tr.joliet {
			copy(b[88:91], "%/E")
		}
		lbaScale := sector / int(bs)
		binary.LittleEndian.PutUint32(b[80:], uint32(next*lbaScale))
		binary.BigEndian.PutUint32(b[84:], uint32(next*lbaScale))
		binary.LittleEndian.PutUint16(b[128:], bs)
		binary.BigEndian.PutUint16(b[130:], bs)
		root := dirRecord34(tr.dirLBA*lbaScale, len(tr.dir), 0x02, []byte{0})
		copy(b[156:190], root)
		b[881] = 1
	}
	vd(0, 1, trees[0])
	if spec.joliet != nil {
		vd(1, 2, trees[1])
		vd(2, 255, nil)
	} else {
		vd(1, 255, nil)
	}
	lbaScale := sector / int(bs)
	for _, tr := range trees {
		// Rewrite extents in units of the logical block size.
		dir := tr.dir
		for off := 0; off < len(dir); {
			if dir[off] == 0 {
				off = (off/sector + 1) * sector
				continue
			}
			lba := binary.LittleEndian.Uint32(dir[off+2:])
			binary.LittleEndian.PutUint32(dir[off+2:], lba*uint32(lbaScale))
			binary.BigEndian.PutUint32(dir[off+6:], lba*uint32(lbaScale))
			off += int(dir[off])
		}
		copy(img[tr.dirLBA*sector:], dir)
		for i, e := range tr.entries {
			copy(img[tr.dataLBA[i]*sector:], e.data)
		}
	}
	return img
}

func dirRecord34(lba, size int, flags byte, name []byte) []byte {
	n := 33 + len(name)
	if n%2 != 0 {
		n++ // records have even length
	}
	r := make([]byte, n)
	r[0] = byte(n)
	binary.LittleEndian.PutUint32(r[2:], uint32(lba))
	binary.BigEndian.PutUint32(r[6:], uint32(lba))
	binary.LittleEndian.PutUint32(r[10:], uint32(size))
	binary.BigEndian.PutUint32(r[14:], uint32(size))
	r[25] = flags
	binary.LittleEndian.PutUint16(r[28:], 1)
	binary.BigEndian.PutUint16(r[30:], 1)
	r[32] = byte(len(name))
	copy(r[33:], name)
	return r
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
