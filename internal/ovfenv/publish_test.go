package ovfenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// recordingTool writes a fake helper program that stores its argument
// count and arguments, one file each, and exits with code.
func recordingTool(t *testing.T, dir, name string, code int) (argc, args string) {
	t.Helper()
	argc, args = filepath.Join(dir, name+".argc"), filepath.Join(dir, name+".args")
	writeScript(t, dir, name, `printf '%s' "$#" > '`+argc+`'
for a in "$@"; do printf '%s\0' "$a"; done > '`+args+`'
echo "refused by fake" >&2
exit `+strconv.Itoa(code))
	return argc, args
}

func readOr(t *testing.T, path, missing string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return missing
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPublish(t *testing.T) {
	// Shell metacharacters and a newline: the value must reach the
	// program as part of one argument, untouched.
	marker := filepath.Join(t.TempDir(), "injected")
	value := `ok; touch ` + marker + ` $(touch ` + marker + `) "q" 'q'` + "\nline2"
	wantReq := "info-set guestinfo.anyip.status " + value

	t.Run("backdoor first", func(t *testing.T) {
		ch := &fakeChannel{reply: "1 "}
		used, err := Publisher{NewChannel: ch.factory(), LookPath: noPrograms}.Publish(t.Context(), StatusKey, value)
		if err != nil || used != "backdoor" {
			t.Fatalf("used %q, err %v", used, err)
		}
		if len(ch.sent) != 1 || ch.sent[0] != wantReq {
			t.Fatalf("sent %q, want %q", ch.sent, wantReq)
		}
	})

	t.Run("vmware-rpctool when the backdoor fails", func(t *testing.T) {
		dir := t.TempDir()
		argc, args := recordingTool(t, dir, "vmware-rpctool", 0)
		ch := &fakeChannel{startErr: errNotVirtualForTest}
		used, err := Publisher{NewChannel: ch.factory(), LookPath: lookIn(dir)}.Publish(t.Context(), StatusKey, value)
		if err != nil || used != "vmware-rpctool" {
			t.Fatalf("used %q, err %v", used, err)
		}
		if got := readOr(t, argc, "none"); got != "1" {
			t.Errorf("argc = %s, want 1", got)
		}
		if got := readOr(t, args, ""); got != wantReq+"\x00" {
			t.Errorf("args = %q, want %q", got, wantReq+"\x00")
		}
		if _, err := os.Stat(marker); err == nil {
			t.Error("the value was run through a shell")
		}
	})

	t.Run("vmtoolsd last", func(t *testing.T) {
		dir := t.TempDir()
		recordingTool(t, dir, "vmware-rpctool", 1)
		_, args := recordingTool(t, dir, "vmtoolsd", 0)
		ch := &fakeChannel{reply: "0 Permission denied"}
		used, err := Publisher{NewChannel: ch.factory(), LookPath: lookIn(dir)}.Publish(t.Context(), StatusKey, "v")
		if err != nil || used != "vmtoolsd" {
			t.Fatalf("used %q, err %v", used, err)
		}
		if got, want := readOr(t, args, ""), "--cmd\x00info-set guestinfo.anyip.status v\x00"; got != want {
			t.Errorf("args = %q, want %q", got, want)
		}
	})

	t.Run("all fail: each channel named, value never shown", func(t *testing.T) {
		dir := t.TempDir()
		recordingTool(t, dir, "vmware-rpctool", 1)
		ch := &fakeChannel{reply: "0 Permission denied"}
		const private = "status-with-Sup3rSecret-detail"
		_, err := Publisher{NewChannel: ch.factory(), LookPath: lookIn(dir)}.Publish(t.Context(), StatusKey, private)
		if err == nil {
			t.Fatal("no error")
		}
		msg := err.Error()
		for _, w := range []string{"cannot set guestinfo.anyip.status", "backdoor: host refused: Permission denied", "vmware-rpctool: exit status 1: refused by fake", "vmtoolsd: not found in PATH"} {
			if !strings.Contains(msg, w) {
				t.Errorf("error %q does not mention %q", msg, w)
			}
		}
		if strings.Contains(msg, "Sup3rSecret") {
			t.Errorf("error shows the value: %q", msg)
		}
	})

	t.Run("PATH lookup by default", func(t *testing.T) {
		dir := t.TempDir()
		_, args := recordingTool(t, dir, "vmware-rpctool", 0)
		t.Setenv("PATH", dir)
		ch := &fakeChannel{startErr: errors.New("no channel")}
		used, err := Publisher{NewChannel: ch.factory()}.Publish(t.Context(), StatusKey, "x")
		if err != nil || used != "vmware-rpctool" || readOr(t, args, "") != "info-set guestinfo.anyip.status x\x00" {
			t.Fatalf("used %q, err %v", used, err)
		}
	})
}

func TestPublishRejectsBadKeys(t *testing.T) {
	for _, key := range []string{"", "anyip.status", "guestinfo.", "guestinfo.a b", "guestinfo.a\nb", "guestinfo.é", "guestinfo." + strings.Repeat("k", 200)} {
		ch := &fakeChannel{reply: "1 "}
		_, err := Publisher{NewChannel: ch.factory(), LookPath: noPrograms}.Publish(t.Context(), key, "v")
		if err == nil {
			t.Errorf("key %q accepted", key)
		}
		if len(ch.sent) != 0 {
			t.Errorf("key %q: sent %q anyway", key, ch.sent)
		}
	}
}

func TestPublishBoundsValue(t *testing.T) {
	tests := []struct {
		name  string
		value string
		check func(t *testing.T, sent string)
	}{
		{"short value untouched", "ready: 3 ranges", func(t *testing.T, sent string) {
			if sent != "ready: 3 ranges" {
				t.Errorf("sent %q", sent)
			}
		}},
		{"exactly at the limit untouched", strings.Repeat("a", MaxStatusSize), func(t *testing.T, sent string) {
			if len(sent) != MaxStatusSize || strings.Contains(sent, truncMarker) {
				t.Errorf("sent %d bytes", len(sent))
			}
		}},
		{"long ASCII truncated with marker", strings.Repeat("a", 3*MaxStatusSize), func(t *testing.T, sent string) {
			if len(sent) != MaxStatusSize || !strings.HasSuffix(sent, truncMarker) {
				t.Errorf("sent %d bytes ending %q", len(sent), sent[len(sent)-20:])
			}
		}},
		{"long multi-byte cut on a rune boundary", strings.Repeat("é", MaxStatusSize), func(t *testing.T, sent string) {
			if len(sent) > MaxStatusSize || !utf8.ValidString(sent) || !strings.HasSuffix(sent, truncMarker) {
				t.Errorf("sent %d bytes, valid UTF-8 %v", len(sent), utf8.ValidString(sent))
			}
		}},
		{"NUL replaced", "a\x00b", func(t *testing.T, sent string) {
			if sent != "a b" {
				t.Errorf("sent %q", sent)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := &fakeChannel{reply: "1 "}
			if _, err := (Publisher{NewChannel: ch.factory(), LookPath: noPrograms}).Publish(t.Context(), StatusKey, tt.value); err != nil {
				t.Fatal(err)
			}
			tt.check(t, strings.TrimPrefix(ch.sent[0], "info-set "+StatusKey+" "))
		})
	}
}

func noPrograms(string) (string, error) { return "", exec.ErrNotFound }

func lookIn(dir string) func(string) (string, error) {
	return func(name string) (string, error) {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", exec.ErrNotFound
		}
		return p, nil
	}
}
