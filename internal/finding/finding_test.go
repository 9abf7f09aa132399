package finding

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

func TestString(t *testing.T) {
	for _, c := range []struct {
		f    Finding
		want string
	}{
		{Errorf("loadbalance.service_ip_range", "172.16.10.70/26", "did you mean 172.16.10.64/26?", "%s has host bits set", "172.16.10.70/26"),
			`error: loadbalance.service_ip_range = "172.16.10.70/26": 172.16.10.70/26 has host bits set (did you mean 172.16.10.64/26?)`},
		{Warnf("network.management_gateway", "", "", "is empty"),
			`warning: network.management_gateway: is empty`},
		{Errorf("/etc/vmware/anyip-routes.cfg:7", "bad\tline", "", "is not a CIDR"),
			`error: /etc/vmware/anyip-routes.cfg:7 = "bad\tline": is not a CIDR`},
	} {
		if got := c.f.String(); got != c.want {
			t.Errorf("String() = %s\n      want %s", got, c.want)
		}
	}
}

func TestList(t *testing.T) {
	w1 := Warnf("a", "", "", "w1")
	e1 := Errorf("b", "", "", "e1")
	w2 := Warnf("c", "", "", "w2")
	e2 := Errorf("d", "", "", "e2")
	l := List{w1, e1, w2, e2}
	if !l.HasErrors() || (List{w1, w2}).HasErrors() || List(nil).HasErrors() {
		t.Error("HasErrors")
	}
	if e, w := l.Count(); e != 2 || w != 2 {
		t.Errorf("Count = %d, %d", e, w)
	}
	if got := l.Sorted(); !reflect.DeepEqual(got, List{e1, e2, w1, w2}) {
		t.Errorf("Sorted = %v", got)
	}
	if got := l.Error(); got != strings.Join([]string{e1.String(), e2.String(), w1.String(), w2.String()}, "\n") {
		t.Errorf("Error() = %q", got)
	}
	var err error = l
	if err.Error() == "" {
		t.Error("a List is an error with a message")
	}
}

// Findings are printed as JSON and saved as YAML (the state record): both
// read back to the same values.
func TestEncodingRoundTrip(t *testing.T) {
	l := List{
		Errorf("loadbalance.service_ip_range", "10.0.0.0/8", "use /16 or smaller", "too large"),
		Warnf("network.management_gateway", "", "set it", "is empty"),
	}
	j, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(j), `"severity":"error"`) || !strings.Contains(string(j), `"severity":"warning"`) {
		t.Errorf("JSON severities are not words: %s", j)
	}
	var fromJSON List
	if err := json.Unmarshal(j, &fromJSON); err != nil {
		t.Fatalf("JSON does not read back: %v", err)
	}
	y, err := yaml.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	var fromYAML List
	if err := yaml.Unmarshal(y, &fromYAML); err != nil {
		t.Fatalf("YAML does not read back: %v\n%s", err, y)
	}
	for name, got := range map[string]List{"JSON": fromJSON, "YAML": fromYAML} {
		if !reflect.DeepEqual(got, l) {
			t.Errorf("%s round trip = %v, want %v", name, got, l)
		}
	}
	var s Severity
	if err := s.UnmarshalText([]byte("fatal")); err == nil {
		t.Error("an unknown severity was accepted")
	}
}

// A megabyte value is echoed as its start and its length, in every
// output: String, the value kept in JSON, an error listing.
func TestClip(t *testing.T) {
	long := strings.Repeat("é", 1<<19) // 1 MiB, two bytes a character
	f := Errorf("network.hostname", long, "use a host name", "%q is not a valid host name", long)
	for what, s := range map[string]string{"String": f.String(), "Value": f.Value, "Message": f.Message, "Error": List{f}.Error()} {
		if len(s) > MaxMessage+MaxValue+200 {
			t.Errorf("%s is %d bytes", what, len(s))
		}
		if !utf8.ValidString(s) {
			t.Errorf("%s cut inside a character", what)
		}
	}
	if !strings.HasPrefix(f.Value, "éé") || !strings.HasSuffix(f.Value, "...(1048576 bytes)") {
		t.Errorf("Value = %q", f.Value[len(f.Value)-40:])
	}
	// A literal finding is bounded when printed too.
	lit := Finding{Severity: Error, Where: "k", Value: long, Message: "bad"}
	if s := lit.String(); len(s) > MaxValue+100 {
		t.Errorf("literal finding prints %d bytes", len(s))
	}
	if Clip("short") != "short" {
		t.Error("a short value is kept as it is")
	}
}

func TestErrorCapsTheList(t *testing.T) {
	var l List
	for i := range 3 * MaxListed {
		l = append(l, Errorf("f:"+strings.Repeat("1", i%5+1), "x", "", "bad"))
	}
	s := l.Error()
	if n := strings.Count(s, "\n") + 1; n != MaxListed+1 {
		t.Errorf("%d lines, want %d", n, MaxListed+1)
	}
	if !strings.HasSuffix(s, "... and 200 more") {
		t.Errorf("ends %q", s[len(s)-40:])
	}
	if got, rest := l.Head(5); len(got) != 5 || rest != len(l)-5 {
		t.Errorf("Head(5) = %d, %d", len(got), rest)
	}
}

// A bounded list keeps the first of each severity and one finding that
// counts the rest, so Count and Head stay true.
func TestBounded(t *testing.T) {
	b := Bounded{Max: 2}
	for i := range 5 {
		b.Add(Errorf(fmt.Sprintf("f:%d", i+1), "", "", "bad"))
	}
	b.Add(Warnf("f:9", "", "", "odd"))
	l := b.List()
	if len(l) != 4 || l[3].Where != "f:3" || l[3].More != 2 || l[3].Message != "this and 2 more errors are not shown" {
		t.Fatalf("list = %+v", l)
	}
	if e, w := l.Count(); e != 5 || w != 1 {
		t.Errorf("Count = %d, %d; want 5, 1", e, w)
	}
	if shown, rest := l.Sorted().Head(1); len(shown) != 1 || rest != 5 {
		t.Errorf("Head(1) = %d shown, %d rest; want 1, 5", len(shown), rest)
	}
}
