package ovfenv

import (
	"bytes"
	"errors"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmware/govmomi/ovf"
)

// designKeys is the property key set of DESIGN.md §3.
var designKeys = []string{
	"appliance.ca_cert", "appliance.ca_cert_key", "appliance.permit_root_login", "appliance.root_pwd",
	"loadbalance.dataplane_port", "loadbalance.haproxy_pwd", "loadbalance.haproxy_user", "loadbalance.service_ip_range",
	"network.additional_workload_networks", "network.frontend_gateway", "network.frontend_ip", "network.hostname",
	"network.management_gateway", "network.management_ip", "network.nameservers",
	"network.workload_gateway", "network.workload_ip",
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	envOpen  = `<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:oe="http://schemas.dmtf.org/ovf/environment/1" xmlns:ve="http://www.vmware.com/schema/ovfenv" oe:id="">`
	envClose = `</Environment>`
)

func props(ps ...string) string {
	var b strings.Builder
	b.WriteString("<PropertySection>\n")
	for i := 0; i+1 < len(ps); i += 2 {
		b.WriteString(`<Property oe:key="` + ps[i] + `" oe:value="` + ps[i+1] + `"/>` + "\n")
	}
	b.WriteString("</PropertySection>\n")
	return b.String()
}

func doc(body string) []byte { return []byte(envOpen + "\n" + body + envClose + "\n") }

func TestParseAccepts(t *testing.T) {
	sample := readFile(t, "testdata/ovf-env-esx-sample.xml")
	crlf := bytes.ReplaceAll(sample, []byte("\n"), []byte("\r\n"))

	tests := []struct {
		name  string
		input []byte
		check func(t *testing.T, e *Env)
	}{
		{"ESX sample", sample, func(t *testing.T, e *Env) {
			wantSample(t, e)
		}},
		{"BOM", append([]byte{0xEF, 0xBB, 0xBF}, sample...), wantSample},
		{"CRLF", crlf, wantSample},
		{"BOM, CRLF and leading blank lines", append([]byte("\xEF\xBB\xBF \r\n\t\r\n"), crlf...), wantSample},
		{"trailing whitespace and comment", append(bytes.Clone(sample), "\n<!-- written by hand -->\n\n"...), wantSample},
		{"oe: prefixed elements", []byte(`<oe:Environment xmlns:oe="http://schemas.dmtf.org/ovf/environment/1" oe:id="x">
<oe:PlatformSection><oe:Kind>VMware ESXi</oe:Kind></oe:PlatformSection>
<oe:PropertySection><oe:Property oe:key="a.b" oe:value="1"/></oe:PropertySection>
</oe:Environment>`), func(t *testing.T, e *Env) {
			wantProps(t, e, map[string]string{"a.b": "1"})
			if e.ID != "x" || e.Platform.Kind != "VMware ESXi" {
				t.Errorf("ID=%q Platform=%+v", e.ID, e.Platform)
			}
		}},
		{"esxId instead of vCenterId", []byte(`<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1" xmlns:ve="http://www.vmware.com/schema/ovfenv" ve:esxId="42"/>`),
			func(t *testing.T, e *Env) {
				if e.EsxID != "42" || e.VCenterID != "" {
					t.Errorf("EsxID=%q VCenterID=%q", e.EsxID, e.VCenterID)
				}
			}},
		{"vCenter True kept raw", doc(props("appliance.permit_root_login", "True")), func(t *testing.T, e *Env) {
			wantProps(t, e, map[string]string{"appliance.permit_root_login": "True"})
		}},
		{"values are not trimmed or normalized", doc(props(
			"network.nameservers", " 10.0.0.53 ,10.0.0.54, ",
			"network.frontend_ip", "null",
			"appliance.ca_cert", "-----BEGIN CERTIFICATE----- MIIB AAAA -----END CERTIFICATE-----",
			"loadbalance.service_ip_range", "10.1.0.0/24,,",
		)), func(t *testing.T, e *Env) {
			wantProps(t, e, map[string]string{
				"network.nameservers":          " 10.0.0.53 ,10.0.0.54, ",
				"network.frontend_ip":          "null",
				"appliance.ca_cert":            "-----BEGIN CERTIFICATE----- MIIB AAAA -----END CERTIFICATE-----",
				"loadbalance.service_ip_range": "10.1.0.0/24,,",
			})
		}},
		{"entities decoded", doc(props("appliance.root_pwd", "a&amp;b&lt;c&quot;d&#10;e")), func(t *testing.T, e *Env) {
			wantProps(t, e, map[string]string{"appliance.root_pwd": "a&b<c\"d\ne"})
		}},
		{"missing value attribute is empty", doc(`<PropertySection><Property oe:key="k"/></PropertySection>`), func(t *testing.T, e *Env) {
			wantProps(t, e, map[string]string{"k": ""})
		}},
		{"repeated key with the same value", doc(props("k", "v", "k", "v")), func(t *testing.T, e *Env) {
			wantProps(t, e, map[string]string{"k": "v"})
		}},
		{"no PlatformSection, no adapters", doc(props("k", "v")), func(t *testing.T, e *Env) {
			if e.Platform != (Platform{}) || e.Adapters != nil {
				t.Errorf("Platform=%+v Adapters=%v", e.Platform, e.Adapters)
			}
		}},
		{"empty PropertySection", doc("<PropertySection/>"), func(t *testing.T, e *Env) {
			if e.Properties == nil || len(e.Properties) != 0 {
				t.Errorf("Properties = %#v, want an empty map", e.Properties)
			}
		}},
		{"no PropertySection", doc(""), func(t *testing.T, e *Env) {
			if e.Properties == nil || len(e.Properties) != 0 {
				t.Errorf("Properties = %#v, want an empty map", e.Properties)
			}
		}},
		{"adapter without unit number, dash MAC", doc(`<ve:EthernetAdapterSection><ve:Adapter ve:mac="00-50-56-AA-BB-CC" ve:network="VM Network"/></ve:EthernetAdapterSection>`),
			func(t *testing.T, e *Env) {
				if len(e.Adapters) != 1 {
					t.Fatalf("Adapters = %v", e.Adapters)
				}
				a := e.Adapters[0]
				if a.MAC.String() != "00:50:56:aa:bb:cc" || a.Network != "VM Network" || a.UnitNumber != -1 {
					t.Errorf("adapter = %+v (MAC %s)", a, a.MAC)
				}
			}},
		{"unknown sections ignored", doc(`<ve:Foo><Property oe:key="not-a-property" oe:value="x"/></ve:Foo>` + props("k", "v")), func(t *testing.T, e *Env) {
			wantProps(t, e, map[string]string{"k": "v"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.input)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, e)
		})
	}
}

func wantSample(t *testing.T, e *Env) {
	t.Helper()
	if e.VCenterID != "vm-4242" || e.EsxID != "" || e.ID != "" {
		t.Errorf("ids: ID=%q VCenterID=%q EsxID=%q", e.ID, e.VCenterID, e.EsxID)
	}
	if want := (Platform{"VMware ESXi", "8.0.2", "VMware, Inc.", "en"}); e.Platform != want {
		t.Errorf("Platform = %+v, want %+v", e.Platform, want)
	}
	if got := slices.Sorted(maps.Keys(e.Properties)); !slices.Equal(got, designKeys) {
		t.Errorf("keys = %v, want %v", got, designKeys)
	}
	for k, v := range map[string]string{
		"appliance.permit_root_login":  "True",
		"appliance.root_pwd":           "example-root-password",
		"loadbalance.service_ip_range": "10.99.30.128/26, 10.99.30.192/27",
		"network.frontend_ip":          "10.99.30.5/24",
		"appliance.ca_cert":            "",
	} {
		if e.Properties[k] != v {
			t.Errorf("%s = %q, want %q", k, e.Properties[k], v)
		}
	}
	want := []struct {
		mac, network string
		unit         int
	}{{"00:50:56:aa:10:05", "Management", 7}, {"00:50:56:aa:20:05", "Workload", 8}, {"00:50:56:aa:30:05", "Frontend", 9}}
	if len(e.Adapters) != len(want) {
		t.Fatalf("Adapters = %v", e.Adapters)
	}
	for i, w := range want {
		a := e.Adapters[i]
		if a.MAC.String() != w.mac || a.Network != w.network || a.UnitNumber != w.unit {
			t.Errorf("adapter %d = {%s %q %d}, want %+v", i, a.MAC, a.Network, a.UnitNumber, w)
		}
	}
}

func wantProps(t *testing.T, e *Env, want map[string]string) {
	t.Helper()
	if len(e.Properties) != len(want) {
		t.Errorf("Properties = %q, want %q", e.Properties, want)
	}
	for k, v := range want {
		if got, ok := e.Properties[k]; !ok || got != v {
			t.Errorf("%s = %q (present %v), want %q", k, got, ok, v)
		}
	}
}

// TestParseGovmomiEnv checks that what govmomi itself writes for a vApp
// guest parses, so the two stay compatible.
func TestParseGovmomiEnv(t *testing.T) {
	in := ovf.Env{
		EsxID:    "vm-7",
		Platform: &ovf.PlatformSection{Kind: "VMware vCenter Server", Version: "8.0.3", Vendor: "VMware, Inc.", Locale: "en"},
		Property: &ovf.PropertySection{Properties: []ovf.EnvProperty{{Key: "a", Value: "1"}, {Key: "b", Value: ""}}},
	}
	for name, text := range map[string]string{"MarshalManual": in.MarshalManual(), "Marshal": must(in.Marshal())} {
		t.Run(name, func(t *testing.T) {
			e, err := Parse([]byte(text))
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, text)
			}
			wantProps(t, e, map[string]string{"a": "1", "b": ""})
			if e.EsxID != "vm-7" || e.Platform.Kind != "VMware vCenter Server" {
				t.Errorf("EsxID=%q Platform=%+v", e.EsxID, e.Platform)
			}
		})
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

const secret = "hunter2-Sup3rSecret"

// govc import.ova with "InjectOvfEnv": true writes the environment with
// govmomi's ovf.Env.MarshalManual, values unescaped: '&', '<', '>' and '\”
// in a value are read as they were typed, the rest of the document as XML.
func TestParseInjectOvfEnvUnescaped(t *testing.T) {
	for _, pw := range []string{`a&b<c>d'e`, `&&<<`, `x&#;y&#x;z&am p;`, `&lt;&#65;`} {
		env := ovf.Env{EsxID: "vm-1", Platform: &ovf.PlatformSection{Kind: "VMware ESXi", Version: "8.0.3"},
			Property: &ovf.PropertySection{Properties: []ovf.EnvProperty{
				{Key: "appliance.root_pwd", Value: pw},
				{Key: "loadbalance.service_ip_range", Value: "10.0.0.64/26"},
			}}}
		e, err := Parse([]byte(env.MarshalManual()))
		if err != nil {
			t.Errorf("%q: %v", pw, err)
			continue
		}
		want := pw
		if pw == `&lt;&#65;` {
			want = "<A" // what starts an entity is one: the document cannot say otherwise
		}
		if got := e.Properties["appliance.root_pwd"]; got != want {
			t.Errorf("%q read as %q, want %q", pw, got, want)
		}
		if e.Properties["loadbalance.service_ip_range"] != "10.0.0.64/26" || e.EsxID != "vm-1" {
			t.Errorf("%q: the rest of the document: %+v", pw, e)
		}
	}
}

// A well-formed document is never changed by the repair.
func TestRepairLeavesWellFormedAlone(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.xml"))
	more, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if files = append(files, more...); len(files) < 3 {
		t.Fatalf("only %d example documents", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := repairValues(data)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: changed by the repair (%v)", f, err)
		}
	}
	escaped := doc(props("appliance.root_pwd", "a&amp;b&lt;c&gt;&quot;&apos;&#38;&#x26;") + "<!-- a < & in a comment --><![CDATA[ & < ]]>")
	if got, _ := repairValues(escaped); !bytes.Equal(got, escaped) {
		t.Errorf("an escaped document changed:\n%s", got)
	}
}

func TestParseRejects(t *testing.T) {
	huge := append(doc(props("k", "v")), bytes.Repeat([]byte(" "), MaxSize)...)
	tests := []struct {
		name     string
		input    []byte
		wantLine int      // 0: no line expected
		want     []string // substrings of the message
	}{
		{"empty", nil, 0, []string{"empty"}},
		{"blank", []byte(" \r\n\t\n"), 0, []string{"empty"}},
		{"only a BOM", []byte("\xEF\xBB\xBF"), 0, []string{"empty"}},
		{"UTF-16", []byte("\xFF\xFE<\x00E\x00"), 0, []string{"UTF-16"}},
		{"plain text", []byte("\n\nroot_pwd=" + secret), 3, []string{"not XML"}},
		{"JSON", []byte(`{"appliance.root_pwd": "` + secret + `"}`), 1, []string{"not XML"}},
		{"other root element", []byte("<?xml version=\"1.0\"?>\n<foo/>"), 2, []string{"root element is <foo>", "Environment"}},
		{"OVF descriptor instead", []byte(`<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1"/>`), 1, []string{"OVF descriptor"}},
		{"Environment without namespace", []byte(`<Environment><PropertySection/></Environment>`), 1, []string{"no namespace", "http://schemas.dmtf.org/ovf/environment/1"}},
		{"Environment in another namespace", []byte(`<Environment xmlns="urn:x"/>`), 1, []string{`namespace "urn:x"`}},
		{"no root element", []byte(`<?xml version="1.0"?><!-- nothing -->`), 0, []string{"no root element"}},
		{"text before root", []byte("<?xml version=\"1.0\"?>\nhello <Environment/>"), 2, []string{"text before the root"}},
		{"second document after root", append(doc(props("k", "v")), doc("")...), 6, []string{"after the end of the root element"}},
		{"unclosed element", []byte(envOpen + "\n<PropertySection>\n<Property oe:key=\"k\" oe:value=\"" + secret + "\"/>\n"), 4, []string{"XML syntax error", "unexpected EOF"}},
		{"mismatched end tag", doc("<PropertySection>\n</PlatformSection>\n"), 3, []string{"XML syntax error", "closed by another element's end tag"}},
		{"quote inside a value, as govc's InjectOvfEnv writes it", doc("\n" + `<PropertySection><Property oe:key="appliance.root_pwd" oe:value="` + secret + `"` + secret + `"/></PropertySection>`), 3,
			[]string{`property "appliance.root_pwd"`, "InjectOvfEnv", "retype"}},
		{"control character in a value", doc(props("appliance.root_pwd", secret+"\x01"+secret)), 3, []string{"XML syntax error", "control character"}},
		{"invalid UTF-8 in a value", doc(props("appliance.root_pwd", secret+"\xff")), 3, []string{"invalid UTF-8"}},
		{"unquoted value", doc(`<PropertySection><Property oe:key="k" oe:value=` + secret + `/></PropertySection>`), 2, []string{"XML syntax error"}},
		{"non-UTF-8 encoding", []byte(`<?xml version="1.0" encoding="ISO-8859-1"?>` + "\n" + envOpen + envClose), 1, []string{"UTF-8"}},
		{"duplicate key, different values", doc(props("appliance.root_pwd", secret, "network.hostname", "h", "appliance.root_pwd", secret+"2")), 5,
			[]string{`"appliance.root_pwd"`, "property #3", "property #1 on line 3"}},
		{"property without key", doc(props("a", "1") + `<PropertySection><Property oe:value="` + secret + `"/></PropertySection>`), 5, []string{"property #2 has no oe:key"}},
		{"property with blank key", doc(props(" ", secret)), 3, []string{"property #1 has no oe:key"}},
		{"property with oe:value and value", doc(props("a", "1") + `<PropertySection>` + "\n" +
			`<Property oe:key="loadbalance.service_ip_range" oe:value="10.0.0.0/24" value="` + secret + `"/></PropertySection>`), 6,
			[]string{"property #2", "two values", "oe:value and value"}},
		{"property with value and oe:value", doc(`<PropertySection><Property value="` + secret + `" oe:key="k" oe:value=""/></PropertySection>`), 2,
			[]string{"property #1", "two values"}},
		{"property with oe:key and key", doc(`<PropertySection><Property oe:key="a" key="b" oe:value="1"/></PropertySection>`), 2,
			[]string{"property #1", "two keys"}},
		{"adapter without MAC", doc(`<ve:EthernetAdapterSection><ve:Adapter ve:network="n"/></ve:EthernetAdapterSection>`), 0, []string{"adapter #1", "no ve:mac"}},
		{"adapter with bad MAC", doc(`<ve:EthernetAdapterSection><ve:Adapter ve:mac="00:50:56:aa:10:05"/><ve:Adapter ve:mac="zz:50"/></ve:EthernetAdapterSection>`), 0, []string{"adapter #2", `"zz:50"`}},
		{"adapter with 8-byte MAC", doc(`<ve:EthernetAdapterSection><ve:Adapter ve:mac="00:50:56:aa:10:05:00:01"/></ve:EthernetAdapterSection>`), 0, []string{"48-bit"}},
		{"adapter with bad unit number", doc(`<ve:EthernetAdapterSection><ve:Adapter ve:mac="00:50:56:aa:10:05" ve:unitNumber="-3"/></ve:EthernetAdapterSection>`), 0, []string{"ve:unitNumber"}},
		{"too large", huge, 0, []string{"byte limit"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := Parse(tt.input)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", e)
			}
			if e != nil {
				t.Errorf("Parse returned an Env along with the error")
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			msg := err.Error()
			t.Log(msg)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if pe.Line != tt.wantLine {
				t.Errorf("line = %d, want %d (%s)", pe.Line, tt.wantLine, msg)
			}
			for _, s := range []string{secret, "hunter2", "Sup3r"} {
				if strings.Contains(msg, s) {
					t.Errorf("error leaks a property value: %q", msg)
				}
			}
		})
	}
}

// TestExamplesConsistent parses the shipped examples and checks the
// network values against each other, so an example never teaches a
// misconfiguration (a VIP range over a gateway, DNS server or the
// appliance itself).
func TestExamplesConsistent(t *testing.T) {
	files, err := filepath.Glob("../../examples/ovf-env-*.xml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "testdata/ovf-env-esx-sample.xml")
	wantAdapters := map[string]int{"ovf-env-2nic.xml": 2, "ovf-env-3nic.xml": 3, "ovf-env-ipv6.xml": 2, "ovf-env-esx-sample.xml": 3}
	for name := range wantAdapters {
		if !slices.ContainsFunc(files, func(f string) bool { return filepath.Base(f) == name }) {
			t.Errorf("example %s is missing", name)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			e, err := Parse(readFile(t, f))
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(maps.Keys(e.Properties)); !slices.Equal(got, designKeys) {
				t.Errorf("keys = %v, want the DESIGN.md §3 set", got)
			}
			if n, ok := wantAdapters[filepath.Base(f)]; ok && len(e.Adapters) != n {
				t.Errorf("%d adapters, want %d", len(e.Adapters), n)
			}
			checkNetworkValues(t, e.Properties)
		})
	}
}

func checkNetworkValues(t *testing.T, p map[string]string) {
	t.Helper()
	list := func(key string) []string {
		var out []string
		for _, s := range strings.Split(p[key], ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
		return out
	}
	prefixes := func(key string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range list(key) {
			pfx, err := netip.ParsePrefix(s)
			if err != nil || pfx != pfx.Masked() {
				t.Errorf("%s: %q is not a network prefix", key, s)
				continue
			}
			out = append(out, pfx)
		}
		return out
	}
	var hosts []netip.Addr  // addresses no VIP range may contain
	var nics []netip.Prefix // the appliance's own networks
	for _, nic := range []string{"management", "workload", "frontend"} {
		ip, gw := p["network."+nic+"_ip"], p["network."+nic+"_gateway"]
		if ip == "" && gw == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(ip)
		if err != nil {
			t.Errorf("network.%s_ip %q: %v", nic, ip, err)
			continue
		}
		g, err := netip.ParseAddr(gw)
		if err != nil {
			t.Errorf("network.%s_gateway %q: %v", nic, gw, err)
			continue
		}
		if !pfx.Masked().Contains(g) || g == pfx.Addr() {
			t.Errorf("%s gateway %s is not another host of %s", nic, g, pfx)
		}
		hosts = append(hosts, pfx.Addr(), g)
		nics = append(nics, pfx.Masked())
	}
	for _, s := range list("network.nameservers") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			t.Errorf("nameserver %q: %v", s, err)
			continue
		}
		hosts = append(hosts, a)
	}
	ranges := prefixes("loadbalance.service_ip_range")
	extra := prefixes("network.additional_workload_networks")
	if len(ranges) == 0 {
		t.Error("no service IP range")
	}
	for i, r := range ranges {
		for _, h := range hosts {
			if r.Contains(h) {
				t.Errorf("VIP range %s contains %s", r, h)
			}
		}
		for _, o := range ranges[i+1:] {
			if r.Overlaps(o) {
				t.Errorf("VIP ranges %s and %s overlap", r, o)
			}
		}
		for _, x := range extra {
			if r.Overlaps(x) {
				t.Errorf("VIP range %s overlaps additional workload network %s", r, x)
			}
		}
		if !slices.ContainsFunc(nics, func(n netip.Prefix) bool { return n.Contains(r.Addr()) && n.Bits() <= r.Bits() }) {
			t.Errorf("VIP range %s is inside none of the appliance's networks %v", r, nics)
		}
	}
	for _, x := range extra {
		for _, n := range nics {
			if x.Overlaps(n) {
				t.Errorf("additional workload network %s overlaps NIC network %s", x, n)
			}
		}
	}
}

// A secret typed where markup goes (an unescaped '<' splitting a value)
// turns into element names; no error may echo them.
func TestParseErrorsNeverEchoMarkupNames(t *testing.T) {
	for _, d := range [][]byte{
		doc("<PropertySection>\n<Pw-S3cretName1>\n</PropertySection>\n"),
		doc("</Pw-S3cretName1>\n"),
		append(doc(""), "<Pw-S3cretName1/>\n"...),
	} {
		_, err := Parse(d)
		if err == nil {
			t.Fatalf("accepted %q", d)
		}
		if strings.Contains(err.Error(), "S3cretName") {
			t.Errorf("error echoes a name from the document: %v", err)
		}
	}
}
