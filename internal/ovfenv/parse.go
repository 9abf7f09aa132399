// Package ovfenv reads the OVF environment document that vSphere hands a
// vApp guest (through guestinfo.ovfEnv or an ISO on a virtual CD-ROM) and
// parses it into plain values.
//
// Property values may hold passwords and private keys, so no error built
// here ever quotes a property value: errors name keys, element names and
// positions only.
package ovfenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/vmware/govmomi/ovf"
	"github.com/vmware/govmomi/vim25/xml"
)

// MaxSize bounds every OVF environment this package reads or parses. Real
// documents are a few KiB; the bound keeps a wrong device or file from
// being slurped into memory.
const MaxSize = 4 << 20

const (
	// NamespaceOVFEnv is the namespace of the Environment element and of
	// the oe: attributes.
	NamespaceOVFEnv = "http://schemas.dmtf.org/ovf/environment/1"
	// NamespaceVMware is the namespace of VMware's ve: extensions.
	NamespaceVMware = "http://www.vmware.com/schema/ovfenv"

	namespaceOVFEnvelope = "http://schemas.dmtf.org/ovf/envelope/1"
)

// Env is a parsed OVF environment.
type Env struct {
	ID        string // oe:id
	VCenterID string // ve:vCenterId; set when vCenter deployed the VM
	EsxID     string // ve:esxId; set when a standalone ESX host deployed it
	Platform  Platform
	// Properties maps oe:key to oe:value exactly as written in the
	// document; normalizing web-form input is the config layer's job.
	Properties map[string]string
	Adapters   []Adapter
}

// Platform is the PlatformSection; all fields are empty when it is absent.
type Platform struct {
	Kind    string
	Version string
	Vendor  string
	Locale  string
}

// Adapter is one ve:Adapter of the ve:EthernetAdapterSection: which port
// group (by name) the NIC with this MAC is connected to.
type Adapter struct {
	MAC        net.HardwareAddr
	Network    string
	UnitNumber int // -1 when the document does not say
}

// ParseError is the error Parse returns for any input it rejects.
type ParseError struct {
	Line   int // 1-based; 0 when the problem has no single position
	Reason string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("OVF environment: line %d: %s", e.Line, e.Reason)
	}
	return "OVF environment: " + e.Reason
}

func parseErr(line int, format string, args ...any) error {
	return &ParseError{Line: line, Reason: fmt.Sprintf(format, args...)}
}

// rawEnv is govmomi's ovf.Env with the ve: parts ESX and vCenter add, and
// properties that keep every attribute: ovf.EnvProperty matches oe:value
// and a bare value alike, so a property carrying both would silently keep
// whichever came last.
type rawEnv struct {
	XMLName   xml.Name             `xml:"http://schemas.dmtf.org/ovf/environment/1 Environment"`
	ID        string               `xml:"id,attr"`
	EsxID     string               `xml:"http://www.vmware.com/schema/ovfenv esxId,attr"`
	VCenterID string               `xml:"http://www.vmware.com/schema/ovfenv vCenterId,attr"`
	Platform  *ovf.PlatformSection `xml:"PlatformSection"`
	Property  *rawPropertySection  `xml:"PropertySection"`
	Ethernet  *rawEthernetSection  `xml:"http://www.vmware.com/schema/ovfenv EthernetAdapterSection"`
}

type rawPropertySection struct {
	Properties []rawProperty `xml:"Property"`
}

type rawProperty struct {
	Attrs []xml.Attr `xml:",any,attr"`
}

// keyValue returns the property's key and value: the attributes named
// key and value in the oe: namespace or in none. A second key or value
// (oe:value and value both) is an error, never a silent choice.
func (p rawProperty) keyValue() (key, value string, err error) {
	var keys, values int
	for _, a := range p.Attrs {
		if a.Name.Space != "" && a.Name.Space != NamespaceOVFEnv {
			continue
		}
		switch a.Name.Local {
		case "key":
			key, keys = a.Value, keys+1
		case "value":
			value, values = a.Value, values+1
		}
	}
	switch {
	case keys > 1:
		return "", "", errors.New("has two keys (oe:key and key); give one")
	case values > 1:
		return "", "", errors.New("has two values (oe:value and value); give one")
	}
	return key, value, nil
}

type rawEthernetSection struct {
	Adapters []rawAdapter `xml:"http://www.vmware.com/schema/ovfenv Adapter"`
}

// The adapter attributes match by local name only so that a hand-written
// document that leaves off the ve: prefix on them still parses.
// UnitNumber is a string so that a bad number yields our own error rather
// than strconv's, which would quote the input.
type rawAdapter struct {
	MAC        string `xml:"mac,attr"`
	Network    string `xml:"network,attr"`
	UnitNumber string `xml:"unitNumber,attr"`
}

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// Parse parses an OVF environment document.
func Parse(data []byte) (*Env, error) {
	if len(data) > MaxSize {
		return nil, parseErr(0, "input is %d bytes, more than the %d byte limit", len(data), MaxSize)
	}
	if bytes.HasPrefix(data, bomUTF16LE) || bytes.HasPrefix(data, bomUTF16BE) {
		return nil, parseErr(0, "input is UTF-16; only UTF-8 is supported")
	}
	data = bytes.TrimPrefix(data, bomUTF8)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, parseErr(0, "input is empty")
	}
	if first := bytes.TrimLeft(data, " \t\r\n"); first[0] != '<' {
		return nil, parseErr(1+bytes.Count(data[:len(data)-len(first)], []byte("\n")),
			"not XML: the first non-blank character is not '<'")
	}

	data, err := repairValues(data)
	if err != nil {
		return nil, err
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	start, err := rootElement(d)
	if err != nil {
		return nil, err
	}
	if err := checkRoot(d, start); err != nil {
		return nil, err
	}

	var raw rawEnv
	if err := d.DecodeElement(&raw, start); err != nil {
		return nil, decodeErr(d, err)
	}
	if err := checkTrailer(d); err != nil {
		return nil, err
	}
	return convert(data, &raw)
}

// rootElement skips the prolog (declaration, comments, doctype, blanks)
// and returns the first start element.
func rootElement(d *xml.Decoder) (*xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, parseErr(0, "no root element")
		}
		if err != nil {
			return nil, decodeErr(d, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return &t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				line, _ := d.InputPos()
				return nil, parseErr(line, "not XML: text before the root element")
			}
		}
	}
}

func checkRoot(d *xml.Decoder, start *xml.StartElement) error {
	n := start.Name
	if n.Space == NamespaceOVFEnv && n.Local == "Environment" {
		return nil
	}
	line, _ := d.InputPos()
	switch {
	case n.Space == namespaceOVFEnvelope && n.Local == "Envelope":
		return parseErr(line, "root element is an OVF descriptor <Envelope>, not an OVF environment <Environment>")
	case n.Local == "Environment" && n.Space == "":
		return parseErr(line, "root element <Environment> has no namespace; want xmlns=%q", NamespaceOVFEnv)
	case n.Local == "Environment":
		return parseErr(line, "root element <Environment> is in namespace %q; want %q", clip(n.Space), NamespaceOVFEnv)
	default:
		return parseErr(line, "root element is <%s>, not an OVF <Environment>", clip(n.Local))
	}
}

// checkTrailer rejects content after the root element, which would
// otherwise be silently ignored (for example a second, concatenated
// document).
func checkTrailer(d *xml.Decoder) error {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return decodeErr(d, err)
		}
		line, _ := d.InputPos()
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return parseErr(line, "text after the end of the root element")
			}
		case xml.StartElement:
			return parseErr(line, "another element after the end of the root element")
		case xml.Comment, xml.ProcInst:
		default:
			return parseErr(line, "unexpected content after the end of the root element")
		}
	}
}

// decodeErr turns decoder errors into ParseErrors whose text cannot carry
// document content: a few of the decoder's syntax messages quote the input
// (an entity name, an XML name, a character), and those may come from
// inside a password.
func decodeErr(d *xml.Decoder, err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return parseErr(se.Line, "XML syntax error: %s", safeSyntaxMsg(se.Msg))
	}
	line, _ := d.InputPos()
	var ue xml.UnmarshalError
	if errors.As(err, &ue) {
		// Raised for element/namespace mismatches; names are safe, but
		// clip in case a name is huge.
		return parseErr(line, "%s", clip(string(ue)))
	}
	if strings.Contains(err.Error(), "CharsetReader") {
		return parseErr(line, "the XML declaration names an encoding other than UTF-8; only UTF-8 is supported")
	}
	return parseErr(line, "cannot decode the document: %s", errorKind(err))
}

// safeSyntaxMsg keeps the decoder's message when it is a fixed string and
// replaces the quoted part of the ones that echo input.
func safeSyntaxMsg(msg string) string {
	switch {
	case strings.HasPrefix(msg, "invalid character entity"):
		return "invalid character entity (write a literal '&' as &amp;)"
	case strings.HasPrefix(msg, "illegal character code"):
		return "a character that XML does not allow (a control character?)"
	case strings.HasPrefix(msg, "invalid XML name"):
		return "invalid XML name"
	case strings.HasPrefix(msg, "element <"):
		// Names are markup, but a value typed where markup goes (an
		// unescaped '<' in a password) becomes a name: never echo them.
		return "an element is closed by another element's end tag (a missing or extra </...>?)"
	case strings.HasPrefix(msg, "unexpected end element"):
		return "an end tag without a matching start tag"
	}
	for _, fixed := range fixedSyntaxMsgs {
		if msg == fixed {
			return msg
		}
	}
	return "malformed XML"
}

var fixedSyntaxMsgs = []string{
	"unexpected EOF",
	"expected element name after </",
	"expected target name after <?",
	"invalid sequence <!- not part of <!--",
	"invalid <![ sequence",
	"expected element name after <",
	"expected /> in element",
	"expected attribute name in element",
	"attribute name without = in element",
	"unquoted or missing attribute value in element",
	"unexpected EOF in CDATA section",
	"unescaped ]]> not in CDATA section",
	"unescaped < inside quoted string",
	"invalid UTF-8",
}

// errorKind describes an unexpected decoder error by type, never by text.
func errorKind(err error) string {
	if err.Error() == "exceeded max depth" {
		return "elements nested too deeply"
	}
	return fmt.Sprintf("%T", err)
}

func convert(data []byte, raw *rawEnv) (*Env, error) {
	env := &Env{
		ID:         raw.ID,
		VCenterID:  raw.VCenterID,
		EsxID:      raw.EsxID,
		Properties: map[string]string{},
	}
	if p := raw.Platform; p != nil {
		env.Platform = Platform{Kind: p.Kind, Version: p.Version, Vendor: p.Vendor, Locale: p.Locale}
	}

	if raw.Property != nil {
		first := map[string]int{} // key -> index of its first occurrence
		for i, rp := range raw.Property.Properties {
			key, value, err := rp.keyValue()
			if err != nil {
				return nil, parseErr(propertyLine(data, i), "property #%d %v", i+1, err)
			}
			if strings.TrimSpace(key) == "" {
				return nil, parseErr(propertyLine(data, i), "property #%d has no oe:key", i+1)
			}
			if j, dup := first[key]; dup {
				if env.Properties[key] == value {
					continue
				}
				return nil, parseErr(propertyLine(data, i),
					"property #%d repeats key %q with a different value (first given as property #%d on line %d)",
					i+1, clip(key), j+1, propertyLine(data, j))
			}
			first[key] = i
			env.Properties[key] = value
		}
	}

	if raw.Ethernet != nil {
		for i, a := range raw.Ethernet.Adapters {
			ad, err := convertAdapter(a)
			if err != nil {
				return nil, parseErr(0, "ve:EthernetAdapterSection adapter #%d: %v", i+1, err)
			}
			env.Adapters = append(env.Adapters, ad)
		}
	}
	return env, nil
}

func convertAdapter(a rawAdapter) (Adapter, error) {
	ad := Adapter{Network: a.Network, UnitNumber: -1}
	mac := strings.TrimSpace(a.MAC)
	if mac == "" {
		return ad, errors.New("no ve:mac")
	}
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return ad, fmt.Errorf("ve:mac %q is not a 48-bit MAC address", clip(mac))
	}
	ad.MAC = hw
	if u := strings.TrimSpace(a.UnitNumber); u != "" {
		n, err := strconv.Atoi(u)
		if err != nil || n < 0 {
			return ad, fmt.Errorf("ve:unitNumber %q is not a non-negative integer", clip(u))
		}
		ad.UnitNumber = n
	}
	return ad, nil
}

// propertyLine finds the line of the i-th Property the way the decoder
// counted them (children of root-level PropertySections). It re-reads the
// document, which is fine on the error path only.
func propertyLine(data []byte, i int) int {
	d := xml.NewDecoder(bytes.NewReader(data))
	depth, inSection, n := 0, false, 0
	for {
		tok, err := d.Token()
		if err != nil {
			return 0
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 2:
				inSection = t.Name.Local == "PropertySection"
			case depth == 3 && inSection && t.Name.Local == "Property":
				if n == i {
					line, _ := d.InputPos()
					return line
				}
				n++
			}
		case xml.EndElement:
			depth--
		}
	}
}
