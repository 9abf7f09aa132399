// Package state records what first boot last applied, as a small YAML
// document an operator can read, so the next boot can tell "nothing
// changed" from "vCenter changed the properties".
package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/anyip/anyip/internal/finding"
	"github.com/anyip/anyip/internal/render"
	"github.com/anyip/anyip/internal/textfile"
)

// DefaultDir is where the appliance keeps its state.
const DefaultDir = "/var/lib/anyip"

const fileName = "firstboot.yaml"

// MaxSize bounds the record read back: it holds at most MaxRanges ranges
// and MaxWarnings findings, a few hundred KiB at most.
const MaxSize = 1 << 20

// MaxRanges and MaxWarnings bound the lists a record keeps; the rest are
// counted. The record is for "what did the last run do" (the ranges file
// has every range, and the report every finding): a record of 300,000
// ranges or warnings took seconds and gigabytes to write and read.
const (
	MaxRanges   = 1000
	MaxWarnings = 50
)

// Record is the outcome of one applied run. It never holds a secret: the
// hash leaves secret properties out, and findings redact them.
type Record struct {
	Version        int       `yaml:"version"`
	AppliedAt      time.Time `yaml:"applied_at"`
	Source         string    `yaml:"source"`
	PropertiesHash string    `yaml:"properties_hash"`
	Config         string    `yaml:"config"`
	ConfigSHA256   string    `yaml:"config_sha256"`
	Ranges         []string  `yaml:"ranges"`
	// RangesOmitted counts the ranges beyond MaxRanges.
	RangesOmitted int `yaml:"ranges_omitted,omitempty"`
	// Block are the vApp ranges (loadbalance.service_ip_range) the run
	// wrote into the file's first-boot block, so that check can tell a
	// block edited by hand from the wizard's. Nil in a record of a version
	// that did not keep them apart; BlockOmitted counts those beyond
	// MaxRanges.
	Block        []string          `yaml:"block"`
	BlockOmitted int               `yaml:"block_omitted,omitempty"`
	Result       string            `yaml:"result"`
	Routes       RouteCounts       `yaml:"routes"`
	Parts        []Outcome         `yaml:"parts,omitempty"`
	Warnings     []finding.Finding `yaml:"warnings,omitempty"`
	// WarningsOmitted counts the warnings beyond MaxWarnings.
	WarningsOmitted int `yaml:"warnings_omitted,omitempty"`
	// Migrated is set once first boot has taken the old appliance's
	// ranges file over.
	Migrated *Migration `yaml:"migrated,omitempty"`
}

// Migration is which of the wizard's ranges first boot left out of its
// block when it took the old appliance's ranges file over, because the
// operator had deleted or widened them there; they stay out while
// loadbalance.service_ip_range is what it was then.
type Migration struct {
	ServiceIPRange string   `yaml:"service_ip_range"`
	LeftOut        []string `yaml:"left_out"`
}

// AddWarnings keeps the warnings of fs, up to MaxWarnings in all, and
// counts the rest.
func (r *Record) AddWarnings(fs finding.List) {
	for _, f := range fs {
		if f.Severity != finding.Warning {
			continue
		}
		if len(r.Warnings) < MaxWarnings {
			r.Warnings = append(r.Warnings, f)
		} else {
			r.WarningsOmitted++
		}
	}
}

// bound applies MaxRanges and MaxWarnings to a record built by hand.
func (r *Record) bound() {
	if n := len(r.Ranges) - MaxRanges; n > 0 {
		r.Ranges, r.RangesOmitted = r.Ranges[:MaxRanges], r.RangesOmitted+n
	}
	if n := len(r.Block) - MaxRanges; n > 0 {
		r.Block, r.BlockOmitted = r.Block[:MaxRanges], r.BlockOmitted+n
	}
	if n := len(r.Warnings) - MaxWarnings; n > 0 {
		r.Warnings, r.WarningsOmitted = r.Warnings[:MaxWarnings], r.WarningsOmitted+n
	}
}

// Outcome is how one part of first boot ended (the VIP ranges, ...).
type Outcome struct {
	Part   string `json:"part" yaml:"part"`
	Result string `json:"result" yaml:"result"` // applied, unchanged, refused, failed, planned, checked
	Detail string `json:"detail,omitempty" yaml:"detail,omitempty"`
}

// RouteCounts says what the route apply did: changes that happened, not
// the plan's.
type RouteCounts struct {
	Added   int `yaml:"added"`
	Removed int `yaml:"removed"`
	Adopted int `yaml:"adopted"`
	Kept    int `yaml:"kept"`
}

// Path returns the record's file in dir.
func Path(dir string) string { return filepath.Join(dir, fileName) }

// Load returns the last record, or nil when there is none. A record that
// does not parse (a half-written file cannot happen, but a hand edit can)
// is treated as none: the run re-applies, which is always safe. So is one
// that is not a regular file or is larger than MaxSize, with an error
// saying so.
func Load(dir string) (*Record, error) {
	data, err := textfile.ReadFile(Path(dir), MaxSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := yaml.Unmarshal(data, &r); err != nil || r.Version != 1 {
		return nil, nil
	}
	return &r, nil
}

// Save writes the record atomically, creating dir if needed.
func Save(dir string, r *Record) error {
	r.Version = 1
	r.bound()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := yaml.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	header := []byte("# Written by anyip-firstboot after each applied run. Safe to delete: the next run re-applies.\n")
	return render.WriteFile(Path(dir), append(header, data...), 0o644)
}
