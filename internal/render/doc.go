// Package render writes the files the appliance owns. WriteFile is the one
// atomic write every writer shares, so a reader, or the next boot after a
// crash, sees either the whole old file or the whole new one.
package render
