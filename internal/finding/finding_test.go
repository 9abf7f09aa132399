package finding

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

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
