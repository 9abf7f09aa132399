// Package shadow sets a user's password in /etc/shadow's text, as a
// SHA-512 crypt hash (go-crypt). It is pure but for the salt: text and a
// password in, text out. The clear text is never kept or written; callers
// hold it in an appliance.Secret until it is hashed.
package shadow

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-crypt/crypt"
	"github.com/go-crypt/crypt/algorithm/shacrypt"
)

// Rounds of SHA-512 crypt. glibc's own default (5000, "rounds=" omitted)
// is cheap for a guesser; 100000 costs a login, and the boot that checks
// the hash, about 0.16 s of one core (BenchmarkHash).
const Rounds = 100000

// MaxSize bounds the file read: a real /etc/shadow is a few KiB.
const MaxSize = 1 << 20

// Hash returns the SHA-512 crypt hash ($6$rounds=N$salt$key) of password,
// with a fresh random salt.
func Hash(password string, rounds int) (string, error) {
	h, err := shacrypt.New(shacrypt.WithVariant(shacrypt.VariantSHA512), shacrypt.WithIterations(rounds))
	if err != nil {
		return "", err
	}
	d, err := h.Hash(password)
	if err != nil {
		// go-crypt's errors never quote the password.
		return "", fmt.Errorf("hash the password: %w", err)
	}
	return d.Encode(), nil
}

// Matches reports whether hash is a crypt hash of password. A locked or
// empty field ("!", "*", "") matches nothing.
func Matches(hash, password string) bool {
	if hash == "" || hash[0] != '$' {
		return false
	}
	ok, err := crypt.CheckPassword(password, hash)
	return err == nil && ok
}

// ErrNoUser is returned when the file has no line for the user.
var ErrNoUser = errors.New("no such user")

// Get returns the user's password field.
func Get(data []byte, user string) (string, error) {
	_, fields, err := find(data, user)
	if err != nil {
		return "", err
	}
	return string(fields[1]), nil
}

// Set returns data with the user's password field replaced by hash and the
// date of the last change set to day (days since 1970-01-01, as passwd
// does). Every other line and field is kept byte for byte.
func Set(data []byte, user, hash string, day time.Time) ([]byte, error) {
	if bytes.ContainsAny([]byte(hash), ":\n") || hash == "" {
		return nil, errors.New("the hash is not a crypt string")
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	n, fields, err := find(data, user)
	if err != nil {
		return nil, err
	}
	fields[1] = []byte(hash)
	fields[2] = []byte(strconv.FormatInt(day.Unix()/86400, 10))
	line := bytes.Join(fields, []byte(":"))
	if bytes.HasSuffix(lines[n], []byte("\n")) {
		line = append(line, '\n')
	}
	var out bytes.Buffer
	for i, l := range lines {
		if i == n {
			out.Write(line)
			continue
		}
		out.Write(l)
	}
	return out.Bytes(), nil
}

// find returns the index and fields of the user's line (the nine fields
// of shadow(5)).
func find(data []byte, user string) (int, [][]byte, error) {
	for i, l := range bytes.SplitAfter(data, []byte("\n")) {
		l = bytes.TrimSuffix(l, []byte("\n"))
		fields := bytes.Split(l, []byte(":"))
		if string(fields[0]) != user {
			continue
		}
		if len(fields) != 9 {
			return 0, nil, fmt.Errorf("line %d (user %s) has %d fields, not 9", i+1, user, len(fields))
		}
		return i, fields, nil
	}
	return 0, nil, fmt.Errorf("%w: %s", ErrNoUser, user)
}
