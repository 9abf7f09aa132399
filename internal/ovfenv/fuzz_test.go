package ovfenv

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	sample := readFile(f, "testdata/ovf-env-esx-sample.xml")
	f.Add(sample)
	f.Add(append([]byte("\xEF\xBB\xBF"), sample...))
	f.Add(bytes.ReplaceAll(sample, []byte("\n"), []byte("\r\n")))
	examples, _ := filepath.Glob("../../examples/ovf-env-*.xml")
	for _, e := range examples {
		f.Add(readFile(f, e))
	}
	for _, body := range []string{
		props("appliance.ca_cert", "-----BEGIN CERTIFICATE----- MIIBszCCAVmgAwIBAgIUJ7 Zm9vYmFy -----END CERTIFICATE-----",
			"appliance.ca_cert_key", "-----BEGIN PRIVATE KEY----- MC4CAQAwBQYDK2VwBCIEIA -----END PRIVATE KEY-----"),
		props("network.frontend_ip", "null", "network.frontend_gateway", "NULL"),
		props("network.nameservers", " 1.1.1.1 ,, 1.0.0.1, ", "loadbalance.service_ip_range", "10.0.0.128/26 ,10.0.0.192/27,"),
		props("network.workload_ip", "fd00:20::5/64", "network.workload_gateway", "fd00:20::1", "loadbalance.service_ip_range", "fd00:20::1:0/112"),
		props("appliance.permit_root_login", "True", "appliance.permit_root_login", "true"),
		props("k", "a&amp;b&#10;c"),
		`<ve:EthernetAdapterSection><ve:Adapter ve:mac="00:50:56:aa:10:05" ve:network="VM Network" ve:unitNumber="7"/></ve:EthernetAdapterSection>`,
		"<PropertySection/>",
	} {
		f.Add(doc(body))
	}
	for _, s := range []string{"", "null", "<", "<Environment/>", `<?xml version="1.0"?>`, "{}", "\xFF\xFE<\x00"} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data)
		if err != nil {
			if e != nil {
				t.Fatal("Env returned along with an error")
			}
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Reason == "" {
				t.Fatalf("rejection without a reason: %#v", err)
			}
			// Messages are built from fixed text, clipped names and
			// positions; a long one means input is being echoed.
			if len(err.Error()) > 600 {
				t.Fatalf("error message of %d bytes: %.200q", len(err.Error()), err.Error())
			}
			return
		}
		if e.Properties == nil {
			t.Fatal("accepted without a Properties map")
		}
		for k := range e.Properties {
			if k == "" {
				t.Fatal("accepted a property without a key")
			}
		}
		for _, a := range e.Adapters {
			if len(a.MAC) != 6 {
				t.Fatalf("accepted an adapter with MAC %v", a.MAC)
			}
		}
	})
}

// FuzzReadISO feeds arbitrary bytes, placed after a valid volume
// descriptor header so the fuzzer reaches the directory code, to the ISO
// reader, which parses untrusted media.
func FuzzReadISO(f *testing.F) {
	img := buildISO(f, isoSpec{
		primary: []isoEntry{{name: "README.TXT;1", data: []byte("x")}, {name: "OVF-ENV.XML;1", data: []byte(isoXML)}},
		joliet:  []isoEntry{{name: "ovf-env.xml", data: []byte(isoXML)}},
	})
	f.Add(img[16*2048:])
	f.Add(img[16*2048 : 17*2048])
	f.Fuzz(func(t *testing.T, tail []byte) {
		data := append(make([]byte, 16*2048), tail...)
		got, err := readISO(bytes.NewReader(data))
		if err == nil && len(got) > MaxSize {
			t.Fatalf("returned %d bytes, over the limit", len(got))
		}
		if err != nil && err.Error() == "" {
			t.Fatal("empty error")
		}
	})
}

// FuzzRepair: the repair of unescaped values never panics, and what it
// makes of a document that then parses needs no second repair.
func FuzzRepair(f *testing.F) {
	f.Add(readFile(f, "testdata/ovf-env-esx-sample.xml"))
	f.Add(doc(`<PropertySection><Property oe:key="appliance.root_pwd" oe:value="a&b<c>'d&amp;e&#x;"/></PropertySection>`))
	f.Add(doc(`<PropertySection><Property oe:key="k" oe:value='a"b&c'/><!-- & < --><![CDATA[ & < ]]></PropertySection>`))
	f.Add(doc(`<PropertySection><Property oe:key="appliance.root_pwd" oe:value="a"b"/></PropertySection>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > MaxSize {
			return
		}
		out, err := repairValues(data)
		if err != nil {
			return
		}
		if _, perr := Parse(data); perr != nil {
			return
		}
		again, err := repairValues(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("a second repair changed the document (%v):\n%q\n%q", err, out, again)
		}
	})
}
