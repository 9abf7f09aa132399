//go:build !linux

package cli

import "os"

// fileID: the journal is Linux's; elsewhere no stream is it.
func fileID(*os.File) (dev, ino uint64, ok bool) { return 0, 0, false }

// isTerminal: a character device is taken for a terminal.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
