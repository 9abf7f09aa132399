package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/anyip/anyip/internal/e2etest"
	"github.com/anyip/anyip/internal/netnstest"
	"github.com/anyip/anyip/internal/routes"
	"github.com/anyip/anyip/internal/runlock"
)

// BenchmarkFirstboot times a whole first boot of the shipped 3-NIC example,
// in process, inside a namespace: read the environment file, convert,
// validate against the namespace's facts, render, write, apply, record.
//
//	first:     empty table and no file, as on a new VM
//	unchanged: the next boot with the same properties
//	force:     --force, file and record rewritten, routes already in place
func BenchmarkFirstboot(b *testing.B) {
	ns := netnstest.New(b)
	env := filepath.Join(e2etest.Root(), "examples", "ovf-env-3nic.xml")
	dir := b.TempDir()
	cfg, st, resolv := filepath.Join(dir, "anyip-routes.cfg"), filepath.Join(dir, "state"), filepath.Join(dir, "resolv.conf")
	os.WriteFile(resolv, nil, 0o644)
	b.Setenv(runlock.Env, filepath.Join(dir, "lock")) // in process: not the host's lock
	e2etest.SeedRoot(b, filepath.Join(dir, "root"))
	args := []string{"--ovf-env", env, "--config", cfg, "--state-dir", st, "--resolv-conf", resolv, "--root", filepath.Join(dir, "root"), "--publish=false"}
	once := func(extra ...string) {
		err := ns.Do(func() error {
			if code := run(context.Background(), append(args, extra...), nil, io.Discard, io.Discard); code != 0 {
				b.Fatalf("exit %d", code)
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	reset := func() {
		os.RemoveAll(st)
		os.Remove(cfg)
		t, err := routes.OpenAt(ns.Handle)
		if err != nil {
			b.Fatal(err)
		}
		defer t.Close()
		if _, err := t.Down(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			reset()
			b.StartTimer()
			once()
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		once()
		b.ReportAllocs()
		for b.Loop() {
			once()
		}
	})
	b.Run("force", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			once("--force")
		}
	})
}
