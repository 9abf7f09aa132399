package ovfenv

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"unicode/utf16"
)

// ISO 9660 layout (ECMA-119) as far as this package needs it: volume
// descriptors from sector 16, each 2048 bytes; the primary (and the
// Joliet supplementary) descriptor holds the root directory record at
// offset 156; directory records hold name, extent and size.
const (
	isoSector        = 2048
	isoFirstVD       = 16 * isoSector
	isoMaxVDs        = 64 // real images have 2-4; bounds the scan
	isoMaxDir        = 1 << 20
	vdPrimary        = 1
	vdSupplementary  = 2
	vdTerminator     = 255
	dirFlagDirectory = 0x02
	dirFlagMulti     = 0x80
)

var isoMagic = []byte("CD001")

// hasISOSignature reports whether r starts like an ISO 9660 image.
func hasISOSignature(r io.ReaderAt) bool {
	var sig [5]byte
	_, err := r.ReadAt(sig[:], isoFirstVD+1)
	return err == nil && bytes.Equal(sig[:], isoMagic)
}

// readISO returns the content of ovf-env.xml in the root directory of the
// image, looking it up in the primary and Joliet directory trees.
func readISO(r io.ReaderAt) ([]byte, error) {
	roots, err := isoRoots(r)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for _, root := range roots {
		rec, err := findInDir(r, root)
		if err != nil {
			lastErr = err
			continue
		}
		if rec == nil {
			continue
		}
		if rec.flags&dirFlagDirectory != 0 {
			return nil, errors.New("ISO 9660: ovf-env.xml is a directory")
		}
		if rec.flags&dirFlagMulti != 0 {
			return nil, errors.New("ISO 9660: ovf-env.xml is stored in several extents, which is not supported")
		}
		if rec.size > MaxSize {
			return nil, fmt.Errorf("ISO 9660: ovf-env.xml is %d bytes, more than the %d byte limit", rec.size, MaxSize)
		}
		data := make([]byte, rec.size)
		if _, err := r.ReadAt(data, int64(rec.extent)*int64(root.blockSize)); err != nil {
			return nil, fmt.Errorf("ISO 9660: reading ovf-env.xml: %w", err)
		}
		return data, nil
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, errors.New("ISO 9660: no ovf-env.xml in the root directory")
}

type isoRoot struct {
	blockSize uint32
	joliet    bool
	extent    uint32
	size      uint32
}

type dirRecord struct {
	extent uint32
	size   uint32
	flags  byte
}

func isoRoots(r io.ReaderAt) ([]isoRoot, error) {
	var roots []isoRoot
	vd := make([]byte, isoSector)
	for i := 0; i < isoMaxVDs; i++ {
		if _, err := r.ReadAt(vd, isoFirstVD+int64(i)*isoSector); err != nil {
			if len(roots) > 0 {
				break
			}
			return nil, fmt.Errorf("ISO 9660: reading volume descriptor %d: %w", i, err)
		}
		if !bytes.Equal(vd[1:6], isoMagic) {
			if i == 0 {
				return nil, errors.New("not an ISO 9660 image (no CD001 signature at offset 0x8001)")
			}
			break
		}
		typ := vd[0]
		if typ == vdTerminator {
			break
		}
		joliet := typ == vdSupplementary && isJolietEscape(vd[88:120])
		if typ != vdPrimary && !joliet {
			continue
		}
		bs := uint32(binary.LittleEndian.Uint16(vd[128:130]))
		if bs != 512 && bs != 1024 && bs != 2048 {
			return nil, fmt.Errorf("ISO 9660: volume descriptor %d has logical block size %d", i, bs)
		}
		rec, _, err := parseDirRecord(vd[156:190])
		if err != nil {
			return nil, fmt.Errorf("ISO 9660: root directory record: %w", err)
		}
		roots = append(roots, isoRoot{blockSize: bs, joliet: joliet, extent: rec.extent, size: rec.size})
	}
	if len(roots) == 0 {
		return nil, errors.New("ISO 9660: no primary volume descriptor")
	}
	return roots, nil
}

// isJolietEscape recognises the escape sequences that mark a
// supplementary descriptor as Joliet (UCS-2 levels 1-3).
func isJolietEscape(esc []byte) bool {
	return bytes.HasPrefix(esc, []byte("%/@")) || bytes.HasPrefix(esc, []byte("%/C")) || bytes.HasPrefix(esc, []byte("%/E"))
}

// parseDirRecord decodes the record at the start of b and returns it, its
// name bytes, and an error when the record is inconsistent.
func parseDirRecord(b []byte) (dirRecord, []byte, error) {
	if len(b) < 34 {
		return dirRecord{}, nil, errors.New("truncated directory record")
	}
	n := int(b[0])
	nameLen := int(b[32])
	if n < 34 || n > len(b) || 33+nameLen > n {
		return dirRecord{}, nil, fmt.Errorf("malformed directory record (length %d, name length %d)", n, nameLen)
	}
	rec := dirRecord{
		extent: binary.LittleEndian.Uint32(b[2:6]),
		size:   binary.LittleEndian.Uint32(b[10:14]),
		flags:  b[25],
	}
	return rec, b[33 : 33+nameLen], nil
}

func findInDir(r io.ReaderAt, root isoRoot) (*dirRecord, error) {
	if root.size > isoMaxDir {
		return nil, fmt.Errorf("ISO 9660: root directory is %d bytes, more than the %d byte limit", root.size, isoMaxDir)
	}
	dir := make([]byte, root.size)
	if _, err := r.ReadAt(dir, int64(root.extent)*int64(root.blockSize)); err != nil {
		return nil, fmt.Errorf("ISO 9660: reading the root directory: %w", err)
	}
	for off := 0; off < len(dir); {
		if dir[off] == 0 {
			// Records do not cross sector boundaries; a zero length byte
			// is padding up to the next sector.
			off = (off/isoSector + 1) * isoSector
			continue
		}
		rec, name, err := parseDirRecord(dir[off:])
		if err != nil {
			return nil, fmt.Errorf("ISO 9660: root directory at byte %d: %w", off, err)
		}
		off += int(dir[off])
		if isOVFEnvName(name, root.joliet) {
			return &rec, nil
		}
	}
	return nil, nil
}

// isOVFEnvName matches the names ovf-env.xml gets in the wild: plain,
// upper case with a ";1" version (ISO level 2 or relaxed), and
// "OVF_ENV.XML;1" when a strict level-1 writer replaced the hyphen.
func isOVFEnvName(raw []byte, joliet bool) bool {
	var name string
	if joliet {
		if len(raw)%2 != 0 {
			return false
		}
		u := make([]uint16, len(raw)/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(raw[2*i:])
		}
		name = string(utf16.Decode(u))
	} else {
		name = string(raw)
	}
	if i := strings.LastIndexByte(name, ';'); i >= 0 {
		name = name[:i]
	}
	name = strings.TrimSuffix(name, ".")
	name = strings.ReplaceAll(strings.ToLower(name), "_", "-")
	return name == "ovf-env.xml"
}

// readDevice reads ovf-env.xml from a block device holding an ISO 9660
// file system, without mounting it. O_NONBLOCK keeps open(2) from waiting
// for, or closing the tray of, a CD-ROM drive; reads still report a
// missing medium.
func readDevice(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if !hasISOSignature(f) {
		var probe [1]byte
		if _, err := f.ReadAt(probe[:], 0); err != nil && err != io.EOF {
			return nil, err
		}
		return nil, errors.New("no ISO 9660 file system (no CD001 signature at offset 0x8001)")
	}
	return readISO(f)
}

// CDROM is the OVF ISO transport: vSphere attaches an ISO with
// ovf-env.xml to a virtual CD-ROM drive.
type CDROM struct {
	// Devices lists the devices to try; nil means /dev/sr0, /dev/cdrom
	// and every other /dev/sr*.
	Devices func() []string
}

func (CDROM) Name() string { return "iso" }

func (c CDROM) Read(ctx context.Context) ([]byte, error) {
	devices := c.Devices
	if devices == nil {
		devices = cdromDevices
	}
	list := devices()
	if len(list) == 0 {
		return nil, errors.New("no CD-ROM device (/dev/sr*, /dev/cdrom)")
	}
	var failures []string
	for _, dev := range list {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := readDevice(dev)
		if err == nil && len(bytes.TrimSpace(data)) == 0 {
			err = errors.New("ovf-env.xml is empty")
		}
		if err == nil {
			return data, nil
		}
		failures = append(failures, dev+": "+deviceErr(err))
	}
	return nil, errors.New(strings.Join(failures, ", "))
}

// deviceErr drops the path os.PathError repeats.
func deviceErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Op + ": " + pe.Err.Error()
	}
	return err.Error()
}

func cdromDevices() []string {
	cands := []string{"/dev/sr0", "/dev/cdrom"}
	more, _ := filepath.Glob("/dev/sr*")
	sort.Strings(more)
	cands = append(cands, more...)
	return existingUnique(cands)
}

// existingUnique drops paths that do not exist and aliases (/dev/cdrom is
// usually a link to /dev/sr0), keeping the first spelling.
func existingUnique(paths []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range paths {
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		out = append(out, p)
	}
	return out
}
