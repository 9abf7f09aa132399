package ovf_test

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	govmomi "github.com/vmware/govmomi/ovf"

	"github.com/anyip/anyip/internal/appliance"
	"github.com/anyip/anyip/ovf"
)

// reference is the descriptor as govmomi's ovf package reads it, in the
// shape of ovf.Property, with the qualifiers read by a parser of the
// test's own.
func reference(t *testing.T) ([]ovf.Property, *govmomi.Envelope) {
	t.Helper()
	env, err := govmomi.Unmarshal(bytes.NewReader(ovf.Descriptor))
	if err != nil {
		t.Fatalf("govmomi cannot parse the descriptor: %v", err)
	}
	if env.VirtualSystem == nil {
		t.Fatal("descriptor has no VirtualSystem")
	}
	var out []ovf.Property
	for _, ps := range env.VirtualSystem.Product {
		class := ""
		if ps.Class != nil {
			class = *ps.Class
		}
		for _, p := range ps.Property {
			q := ovf.Property{Key: p.Key, Type: p.Type}
			if class != "" {
				q.Key = class + "." + p.Key
			}
			if p.Default != nil {
				q.Default = *p.Default
			}
			if p.Password != nil {
				q.Password = *p.Password
			}
			if p.Label != nil {
				q.Label = strings.TrimSpace(*p.Label)
			}
			if p.Configuration != nil {
				q.Configuration = strings.Fields(*p.Configuration)
			}
			if p.Qualifiers != nil {
				qualifiers(t, q.Key, *p.Qualifiers, &q)
			}
			out = append(out, q)
		}
	}
	return out, env
}

var qualifier = regexp.MustCompile(`^\s*(MinLen|MaxLen|MinValue|MaxValue)\((-?[0-9]+)\)\s*$`)

func qualifiers(t *testing.T, key, s string, p *ovf.Property) {
	t.Helper()
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		m := qualifier.FindStringSubmatch(part)
		if m == nil {
			t.Errorf("%s: qualifier %q is not one the test knows", key, part)
			continue
		}
		n, _ := strconv.ParseInt(m[2], 10, 64)
		switch m[1] {
		case "MinLen":
			p.MinLen = int(n)
		case "MaxLen":
			p.MaxLen = int(n)
		case "MinValue":
			p.MinValue = &n
		case "MaxValue":
			p.MaxValue = &n
		}
	}
}

func bound(p *int64) string {
	if p == nil {
		return "unset"
	}
	return strconv.FormatInt(*p, 10)
}

func TestParseAgreesWithGovmomi(t *testing.T) {
	ours, err := ovf.Parse(ovf.Descriptor)
	if err != nil {
		t.Fatal(err)
	}
	cached, err := ovf.Properties()
	if err != nil || len(cached) != len(ours) {
		t.Fatalf("Properties() = %d properties, %v", len(cached), err)
	}
	ref, _ := reference(t)
	if len(ref) == 0 {
		t.Fatal("govmomi found no properties")
	}
	var ourKeys, refKeys []string
	for _, p := range ours {
		ourKeys = append(ourKeys, p.Key)
	}
	for _, p := range ref {
		refKeys = append(refKeys, p.Key)
	}
	if !slices.Equal(ourKeys, refKeys) {
		t.Fatalf("keys differ (document order):\n ovf.Parse %v\n govmomi   %v", ourKeys, refKeys)
	}
	for i, r := range ref {
		o := ours[i]
		if o.Type != r.Type {
			t.Errorf("%s: type %q, govmomi %q", r.Key, o.Type, r.Type)
		}
		if o.Default != r.Default {
			t.Errorf("%s: default %q, govmomi %q", r.Key, o.Default, r.Default)
		}
		if o.Password != r.Password {
			t.Errorf("%s: password %v, govmomi %v", r.Key, o.Password, r.Password)
		}
		if o.Label != r.Label {
			t.Errorf("%s: label %q, govmomi %q", r.Key, o.Label, r.Label)
		}
		if !slices.Equal(o.Configuration, r.Configuration) {
			t.Errorf("%s: configuration %q, govmomi %q", r.Key, o.Configuration, r.Configuration)
		}
		if o.MinLen != r.MinLen || o.MaxLen != r.MaxLen || bound(o.MinValue) != bound(r.MinValue) || bound(o.MaxValue) != bound(r.MaxValue) {
			t.Errorf("%s: qualifiers MinLen %d MaxLen %d MinValue %s MaxValue %s; govmomi %d %d %s %s", r.Key,
				o.MinLen, o.MaxLen, bound(o.MinValue), bound(o.MaxValue), r.MinLen, r.MaxLen, bound(r.MinValue), bound(r.MaxValue))
		}
		if got, ok := ovf.Lookup(r.Key); !ok || got.Key != r.Key || got.Type != r.Type {
			t.Errorf("Lookup(%s) = %+v, %v", r.Key, got, ok)
		}
	}
	if _, ok := ovf.Lookup("network.no_such_key"); ok {
		t.Error("Lookup found a key the descriptor does not have")
	}
}

// The descriptor and the configurator name exactly the same keys: a key
// renamed or added on one side only fails here.
func TestDescriptorKeysAreExactlySpecs(t *testing.T) {
	ref, _ := reference(t)
	desc := map[string]ovf.Property{}
	for _, p := range ref {
		if _, dup := desc[p.Key]; dup {
			t.Errorf("descriptor declares %s twice", p.Key)
		}
		desc[p.Key] = p
	}
	specs := map[string]appliance.Kind{}
	for _, s := range appliance.Specs {
		if _, dup := specs[s.Key]; dup {
			t.Errorf("Specs lists %s twice", s.Key)
		}
		specs[s.Key] = s.Kind
	}
	for k := range desc {
		if _, ok := specs[k]; !ok {
			t.Errorf("descriptor key %s is not in appliance.Specs", k)
		}
	}
	for k := range specs {
		if _, ok := desc[k]; !ok {
			t.Errorf("appliance.Specs key %s is not in the descriptor", k)
		}
	}

	for k, kind := range specs {
		p, ok := desc[k]
		if !ok {
			continue
		}
		want := "string"
		switch kind {
		case appliance.Bool:
			want = "boolean"
		case appliance.Port:
			want = "int"
		}
		if p.Type != want {
			t.Errorf("%s: Kind %d wants descriptor type %q, descriptor says %q", k, kind, want, p.Type)
		}
		secret := kind == appliance.Password || kind == appliance.PEMKey
		if secret != p.Password {
			t.Errorf("%s: secret kind %v, but ovf:password=%v", k, secret, p.Password)
		}
		if appliance.IsSecret(k) != p.Password {
			t.Errorf("%s: IsSecret %v, ovf:password %v", k, appliance.IsSecret(k), p.Password)
		}
	}
}

// The qualifiers the wizard enforces are those DESIGN.md promises.
func TestQualifiers(t *testing.T) {
	ref, _ := reference(t)
	for _, p := range ref {
		switch {
		case p.Key == appliance.KeyRootPassword || p.Key == appliance.KeyHAProxyPassword:
			if p.MinLen != 6 || p.MaxLen != 128 {
				t.Errorf("%s: length %d..%d, want 6..128", p.Key, p.MinLen, p.MaxLen)
			}
		case p.Key == appliance.KeyDataplanePort:
			if bound(p.MinValue) != "1" || bound(p.MaxValue) != "65535" {
				t.Errorf("%s: value %s..%s, want 1..65535", p.Key, bound(p.MinValue), bound(p.MaxValue))
			}
			if n, err := strconv.Atoi(p.Default); err != nil || n < 1 || n > 65535 {
				t.Errorf("%s: default %q is not a port", p.Key, p.Default)
			}
		case p.Type == "boolean":
			if _, err := strconv.ParseBool(p.Default); err != nil {
				t.Errorf("%s: default %q is not a boolean", p.Key, p.Default)
			}
		}
	}
}

// frontend_ip and frontend_gateway exist only in the 3-NIC deployment
// option; every other property belongs to all options.
func TestConfigurations(t *testing.T) {
	ref, env := reference(t)
	if env.DeploymentOption == nil {
		t.Fatal("no DeploymentOptionSection")
	}
	var ids []string
	for _, c := range env.DeploymentOption.Configuration {
		ids = append(ids, c.ID)
	}
	if !slices.Contains(ids, "frontend") {
		t.Fatalf("deployment options %v lack frontend", ids)
	}
	frontendOnly := map[string]bool{appliance.KeyFrontendIP: true, appliance.KeyFrontendGateway: true}
	seen := 0
	for _, p := range ref {
		for _, c := range p.Configuration {
			if !slices.Contains(ids, c) {
				t.Errorf("%s: configuration %q is not a deployment option (%v)", p.Key, c, ids)
			}
		}
		if frontendOnly[p.Key] {
			seen++
			if !slices.Equal(p.Configuration, []string{"frontend"}) {
				t.Errorf("%s: configuration %q, want only frontend", p.Key, p.Configuration)
			}
		} else if len(p.Configuration) != 0 {
			t.Errorf("%s: configuration %q, want all deployment options", p.Key, p.Configuration)
		}
	}
	if seen != len(frontendOnly) {
		t.Errorf("found %d of the frontend properties", seen)
	}
}

func TestParse(t *testing.T) {
	env := func(props string) []byte {
		return []byte(`<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <VirtualSystem ovf:id="vm"><ProductSection ovf:class="c">` + props + `</ProductSection></VirtualSystem></Envelope>`)
	}
	ps, err := ovf.Parse(env(`<Property ovf:key="k" ovf:type="string" ovf:value="v" ovf:qualifiers="MinLen(1), MaxLen(5),ValueMap{&quot;a&quot;,&quot;b&quot;}" ovf:configuration="x y"><Label> L </Label></Property>`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || ps[0].Key != "c.k" || ps[0].Default != "v" || ps[0].MinLen != 1 || ps[0].MaxLen != 5 ||
		ps[0].Label != "L" || !slices.Equal(ps[0].Configuration, []string{"x", "y"}) || ps[0].Password {
		t.Errorf("Parse = %+v", ps)
	}
	for name, data := range map[string][]byte{
		"not XML":             []byte("<Envelope"),
		"no properties":       env(""),
		"unknown qualifier":   env(`<Property ovf:key="k" ovf:type="string" ovf:qualifiers="MinWidth(3)"/>`),
		"qualifier not a num": env(`<Property ovf:key="k" ovf:type="string" ovf:qualifiers="MinLen(x)"/>`),
		"qualifier form":      env(`<Property ovf:key="k" ovf:type="string" ovf:qualifiers="MinLen"/>`),
	} {
		if _, err := ovf.Parse(data); err == nil {
			t.Errorf("%s: Parse accepted it", name)
		}
	}
}
