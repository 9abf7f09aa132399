package state

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/finding"
)

func record() *Record {
	return &Record{
		AppliedAt:      time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC),
		Source:         "rpc",
		PropertiesHash: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Config:         "/etc/vmware/anyip-routes.cfg",
		ConfigSHA256:   "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
		Ranges:         []string{"192.168.30.128/26", "2001:db8:30::/64"},
		Block:          []string{"192.168.30.128/26"},
		Result:         "applied",
		Routes:         RouteCounts{Added: 2, Removed: 1, Adopted: 3, Kept: 4},
		Warnings: []finding.Finding{
			finding.Warnf("loadbalance.service_ip_range", "192.168.30.192/26", "leave 192.168.30.255 out of the range", "includes the broadcast address"),
			finding.Warnf("network.management_gateway", "", "set it", "is empty"),
		},
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	for name, r := range map[string]*Record{
		"full":                    record(),
		"no warnings":             func() *Record { r := record(); r.Warnings = nil; return r }(),
		"zero":                    {},
		"local time, nanoseconds": func() *Record { r := record(); r.AppliedAt = time.Now(); return r }(),
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "var", "lib", "anyip") // Save creates it
			if err := Save(dir, r); err != nil {
				t.Fatal(err)
			}
			if r.Version != 1 {
				t.Errorf("Save left Version %d", r.Version)
			}
			got, err := Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				data, _ := os.ReadFile(Path(dir))
				t.Fatalf("Load returned no record for what Save wrote:\n%s", data)
			}
			if !got.AppliedAt.Equal(r.AppliedAt) {
				t.Errorf("AppliedAt = %v, want %v", got.AppliedAt, r.AppliedAt)
			}
			want := *r
			want.AppliedAt, got.AppliedAt = time.Time{}, time.Time{}
			if len(want.Ranges) == 0 && len(got.Ranges) == 0 {
				want.Ranges, got.Ranges = nil, nil // "ranges: []" reads back empty, not nil
			}
			if len(want.Block) == 0 && got.Block != nil && len(got.Block) == 0 {
				want.Block, got.Block = nil, nil // likewise, and an empty block is not "not kept"
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v", *got, want)
			}
			st, err := os.Stat(Path(dir))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o644 {
				t.Errorf("mode %v, want 0644", st.Mode().Perm())
			}
			es, _ := os.ReadDir(dir)
			if len(es) != 1 {
				t.Errorf("state dir holds %d entries, want only the record", len(es))
			}
		})
	}
}

// The record is for operators to read: plain YAML with the fields named.
func TestSavedRecordIsReadable(t *testing.T) {
	dir := t.TempDir()
	if err := Save(dir, record()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"# ", "version: 1", "properties_hash: sha256:", "ranges:", "- 192.168.30.128/26", "added: 2", "severity: warning", "where: loadbalance.service_ip_range"} {
		if !strings.Contains(string(data), s) {
			t.Errorf("record lacks %q:\n%s", s, data)
		}
	}
}

func TestSaveOverwrites(t *testing.T) {
	dir := t.TempDir()
	r := record()
	if err := Save(dir, r); err != nil {
		t.Fatal(err)
	}
	r.Result, r.Ranges = "unchanged", []string{"10.0.0.0/24"}
	if err := Save(dir, r); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil || got == nil || got.Result != "unchanged" || len(got.Ranges) != 1 {
		t.Errorf("Load after second Save = %+v, %v", got, err)
	}
}

func TestLoadNothingUsable(t *testing.T) {
	for name, content := range map[string]*string{
		"no file":           nil,
		"garbage":           ptr("\x00\xff{{{ not yaml ]]]\n"),
		"empty":             ptr(""),
		"a YAML list":       ptr("- a\n- b\n"),
		"wrong version":     ptr("version: 2\nresult: applied\n"),
		"no version":        ptr("result: applied\nranges: [10.0.0.0/24]\n"),
		"wrong field types": ptr("version: 1\nranges: 7\nroutes: nope\n"),
		"half a document":   ptr("version: 1\nranges:\n  - 10.0.0.0/24\n  - [\n"),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if content != nil {
				if err := os.WriteFile(Path(dir), []byte(*content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := Load(dir)
			if got != nil || err != nil {
				t.Errorf("Load = %+v, %v; want nil, nil", got, err)
			}
		})
	}
	// A missing directory is also "no record".
	if got, err := Load(filepath.Join(t.TempDir(), "missing")); got != nil || err != nil {
		t.Errorf("Load of a missing dir = %+v, %v", got, err)
	}
}

// A record that cannot be read for a reason other than absence is an error.
func TestLoadUnreadable(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(Path(dir), 0o755); err != nil { // a directory where the file should be
		t.Fatal(err)
	}
	if got, err := Load(dir); err == nil {
		t.Errorf("Load = %+v, nil; want an error", got)
	}
}

func ptr(s string) *string { return &s }

// A run of 300,000 ranges and as many warnings records a bounded sample
// and how many more there were.
func TestSaveBoundsTheLists(t *testing.T) {
	dir := t.TempDir()
	r := record()
	r.Ranges, r.Warnings = nil, nil
	var fs finding.List
	for i := range 300_000 {
		r.Ranges = append(r.Ranges, "10.20.0.128/26")
		fs = append(fs, finding.Warnf("loadbalance.service_ip_range", "10.20.0.128/26", "delete one of them", "listed again (%d)", i))
	}
	fs = append(fs, finding.Errorf("x", "", "", "an error is no warning"))
	r.AddWarnings(fs)
	if err := Save(dir, r); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(Path(dir))
	if st.Size() > 64<<10 {
		t.Errorf("record is %d bytes", st.Size())
	}
	got, err := Load(dir)
	if err != nil || got == nil {
		t.Fatalf("Load = %v, %v", got, err)
	}
	if len(got.Ranges) != MaxRanges || got.RangesOmitted != 300_000-MaxRanges {
		t.Errorf("%d ranges and %d omitted, want %d and %d", len(got.Ranges), got.RangesOmitted, MaxRanges, 300_000-MaxRanges)
	}
	if len(got.Warnings) != MaxWarnings || got.WarningsOmitted != 300_000-MaxWarnings {
		t.Errorf("%d warnings and %d omitted, want %d and %d", len(got.Warnings), got.WarningsOmitted, MaxWarnings, 300_000-MaxWarnings)
	}
}

// A record that is not a regular file, or too large, is no record: Load
// says why, at once, without reading it.
func TestLoadRefusesWhatIsNotARecord(t *testing.T) {
	for name, make := range map[string]func(p string) error{
		"link to /dev/zero": func(p string) error { return os.Symlink("/dev/zero", p) },
		"FIFO":              func(p string) error { return syscall.Mkfifo(p, 0o644) },
		"8 GiB sparse": func(p string) error {
			f, err := os.Create(p)
			if err == nil {
				err = f.Truncate(8 << 30)
				f.Close()
			}
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := make(Path(dir)); err != nil {
				t.Fatal(err)
			}
			got, err := Load(dir)
			if got != nil || err == nil || !strings.Contains(err.Error(), Path(dir)) {
				t.Errorf("Load = %v, %v; want no record and an error naming the file", got, err)
			}
		})
	}
}

// A record of a version that did not keep the block apart loads with
// Block nil, and one whose block is empty with Block empty: check tells
// "not recorded" from "the wizard gave no range".
func TestBlockNilOnlyWhenNotRecorded(t *testing.T) {
	for _, c := range []struct {
		body    string
		wantNil bool
	}{
		{"version: 1\nresult: ok\nranges: [10.0.0.0/24]\n", true},
		{"version: 1\nresult: ok\nranges: [10.0.0.0/24]\nblock: []\n", false},
		{"version: 1\nresult: ok\nranges: [10.0.0.0/24]\nblock: [10.0.0.0/24]\n", false},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(Path(dir), []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Load(dir)
		if err != nil || r == nil {
			t.Fatalf("%q: %v, %v", c.body, r, err)
		}
		if (r.Block == nil) != c.wantNil {
			t.Errorf("%q: Block %#v, want nil %v", c.body, r.Block, c.wantNil)
		}
	}
	// Save writes an empty block as one.
	dir := t.TempDir()
	if err := Save(dir, &Record{Block: []string{}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := Load(dir); r == nil || r.Block == nil {
		t.Errorf("an empty block read back as not recorded: %#v", r)
	}
}
