package render

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Sync writes what differs, removes our files that are no longer wanted,
// and never touches a file whose name is not ours.
func TestOwnedSync(t *testing.T) {
	dir := t.TempDir()
	o := Owned{Dir: dir, Prefix: "10-anyip-", Suffix: ".network"}
	for name, data := range map[string]string{
		"10-anyip-frontend.network": "old frontend\n", // ours, no longer wanted
		"10-anyip-workload.network": "workload\n",     // ours, unchanged
		"99-image.network":          "image's\n",      // not ours
		"10-anyip-notes.txt":        "operator's\n",   // not ours: another suffix
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]byte{
		"10-anyip-management.network": []byte("management\n"),
		"10-anyip-workload.network":   []byte("workload\n"),
	}
	written, removed, err := o.Sync(want, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(written, []string{"10-anyip-management.network"}) || !slices.Equal(removed, []string{"10-anyip-frontend.network"}) {
		t.Errorf("written %q, removed %q", written, removed)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if w := []string{"10-anyip-management.network", "10-anyip-notes.txt", "10-anyip-workload.network", "99-image.network"}; !slices.Equal(names, w) {
		t.Errorf("directory holds %q, want %q", names, w)
	}
	// Again: nothing to do.
	if written, removed, err = o.Sync(want, 0o644); err != nil || len(written)+len(removed) != 0 {
		t.Errorf("second sync: written %q removed %q err %v", written, removed, err)
	}
	// A name that is not ours is refused, and nothing changes.
	if _, _, err := o.Sync(map[string][]byte{"99-image.network": []byte("x")}, 0o644); err == nil {
		t.Error("Sync wrote a file that is not ours")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "10-anyip-workload.network")); string(data) != "workload\n" {
		t.Errorf("refused sync changed a file: %q", data)
	}
}
