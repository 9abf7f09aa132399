package shadow

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-crypt/crypt"
)

const file = "root:*:19000:0:99999:7:::\n" +
	"daemon:*:19000:0:99999:7:::\n" +
	"haproxy:!:19001:0:99999:7:::\n"

func TestSetKeepsOtherLinesAndVerifies(t *testing.T) {
	const pw = `a&b<c>d'e"f`
	h, err := Hash(pw, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$6$rounds=1000$") {
		t.Fatalf("hash %q is not SHA-512 crypt with its rounds", h)
	}
	day := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	out, err := Set([]byte(file), "root", h, day)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	if want := "root:" + h + ":20793:0:99999:7:::"; lines[0] != want {
		t.Errorf("root line = %q, want %q", lines[0], want)
	}
	if !strings.HasSuffix(string(out), "daemon:*:19000:0:99999:7:::\nhaproxy:!:19001:0:99999:7:::\n") {
		t.Errorf("other lines changed:\n%s", out)
	}
	got, err := Get(out, "root")
	if err != nil {
		t.Fatal(err)
	}
	// The library, not our own code, says whether the hash holds the password.
	if ok, err := crypt.CheckPassword(pw, got); err != nil || !ok {
		t.Errorf("crypt.CheckPassword = %v, %v", ok, err)
	}
	if !Matches(got, pw) || Matches(got, pw+"x") {
		t.Error("Matches does not tell the password from another")
	}
	if bytes.Contains(out, []byte(pw)) {
		t.Error("the clear text is in the file")
	}
}

func TestLockedMatchesNothing(t *testing.T) {
	for _, h := range []string{"", "*", "!", "!$6$x$y"} {
		if Matches(h, "") || Matches(h, "secret") {
			t.Errorf("Matches(%q) is true", h)
		}
	}
}

func TestSetErrors(t *testing.T) {
	if _, err := Set([]byte(file), "nobody", "$6$x$y", time.Now()); !errors.Is(err, ErrNoUser) {
		t.Errorf("missing user: %v", err)
	}
	if _, err := Set([]byte("root:x:1\n"), "root", "$6$x$y", time.Now()); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("short line: %v", err)
	}
	if _, err := Set([]byte(file), "root", "a:b", time.Now()); err == nil {
		t.Error("a hash with ':' was accepted")
	}
}

func TestLastLineWithoutNewline(t *testing.T) {
	out, err := Set([]byte("root:*:1:0:99999:7:::"), "root", "$6$s$k", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "root:$6$s$k:0:0:99999:7:::" {
		t.Errorf("got %q", out)
	}
}

// BenchmarkHash is what a boot pays to check root's password, and what a
// login pays.
func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse", Rounds); err != nil {
			b.Fatal(err)
		}
	}
}
