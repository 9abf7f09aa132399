// Package isotest writes minimal ISO 9660 images in memory, for tests of
// the OVF ISO transport that must not depend on xorriso or genisoimage
// being installed. The images carry what a reader of the root directory
// needs (volume descriptors, an optional Joliet tree, root directories and
// file data) and no path tables.
package isotest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"unicode/utf16"
)

const sector = 2048

// Entry is one file (or directory, with Flags) in the root directory.
type Entry struct {
	// Name as stored: "OVF-ENV.XML;1" for the primary tree, plain
	// ("ovf-env.xml") for Joliet.
	Name  string
	Data  []byte
	Flags byte // 0x02 directory, 0x80 multi-extent
	// Size, when non-zero, overrides the recorded size (to fake huge files).
	Size uint32
}

// Spec describes an image.
type Spec struct {
	Primary   []Entry
	Joliet    []Entry // nil: no Joliet descriptor
	BlockSize uint16  // logical block size; 0 means 2048
}

// OVFEnv is the spec of an image as vSphere's OVF ISO transport attaches
// it: ovf-env.xml in the root directory, in both trees.
func OVFEnv(xml []byte) Spec {
	return Spec{
		Primary: []Entry{{Name: "OVF-ENV.XML;1", Data: xml}},
		Joliet:  []Entry{{Name: "ovf-env.xml", Data: xml}},
	}
}

// Build writes the image: system area, a primary (and optionally a Joliet)
// volume descriptor, a terminator, the root directories and the file data.
func Build(t testing.TB, spec Spec) []byte {
	t.Helper()
	bs := spec.BlockSize
	if bs == 0 {
		bs = 2048
	}
	nVD := 2
	if spec.Joliet != nil {
		nVD = 3
	}
	next := 16 + nVD // next free sector

	type tree struct {
		entries []Entry
		joliet  bool
		dirLBA  int
		dir     []byte
		dataLBA []int
	}
	trees := []*tree{{entries: spec.Primary}}
	if spec.Joliet != nil {
		trees = append(trees, &tree{entries: spec.Joliet, joliet: true})
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
		add(DirRecord(tr.dirLBA, dirSize, 0x02, []byte{0}))
		add(DirRecord(tr.dirLBA, dirSize, 0x02, []byte{1}))
		for i, e := range tr.entries {
			name := []byte(e.Name)
			if tr.joliet {
				var b []byte
				for _, u := range utf16.Encode([]rune(e.Name)) {
					b = binary.BigEndian.AppendUint16(b, u)
				}
				name = b
			}
			size := uint32(len(e.Data))
			if e.Size != 0 {
				size = e.Size
			}
			lba := 0
			if tr.dataLBA != nil {
				lba = tr.dataLBA[i]
			}
			add(DirRecord(lba, int(size), e.Flags, name))
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
			next += (len(e.Data) + sector - 1) / sector
			if len(e.Data) == 0 {
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
		root := DirRecord(tr.dirLBA*lbaScale, len(tr.dir), 0x02, []byte{0})
		copy(b[156:190], root)
		b[881] = 1
	}
	vd(0, 1, trees[0])
	if spec.Joliet != nil {
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
			copy(img[tr.dataLBA[i]*sector:], e.Data)
		}
	}
	return img
}

// DirRecord encodes one directory record (ECMA-119 9.1) with both-endian
// extent and size fields.
func DirRecord(lba, size int, flags byte, name []byte) []byte {
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
