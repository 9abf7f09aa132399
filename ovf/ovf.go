// Package ovf holds the OVF descriptor fragment the appliance is built with.
// It is the single source of truth for property keys, types, defaults and
// qualifiers: the configurator reads them from here at run time, so a key
// renamed or a bound changed in the descriptor changes the checks with it.
//
// It parses with encoding/xml rather than govmomi's ovf package on purpose:
// anyip-routes links this too, and govmomi's ovf package costs ~11 MB of
// binary and milliseconds of init. Tests cross-check the parse against
// govmomi's.
package ovf

import (
	_ "embed"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

//go:embed anyip.ovf
var Descriptor []byte

// Property is one ProductSection property, keyed by its full "class.key".
type Property struct {
	Key      string // "loadbalance.service_ip_range"
	Type     string // OVF type: "string", "int", "boolean", ...
	Default  string
	Password bool
	Label    string
	// Configuration lists the deployment options the property belongs to;
	// empty means all of them.
	Configuration []string

	// Qualifiers, as the vSphere wizard enforces them. Zero means unset.
	MinLen, MaxLen     int
	MinValue, MaxValue *int64
}

type xmlEnvelope struct {
	Products []struct {
		Class      string        `xml:"class,attr"`
		Properties []xmlProperty `xml:"Property"`
		// Properties also appear inside Category-grouped sections in some
		// descriptors; they are siblings here, which is all we emit.
	} `xml:"VirtualSystem>ProductSection"`
}

type xmlProperty struct {
	Key           string `xml:"key,attr"`
	Type          string `xml:"type,attr"`
	Default       string `xml:"value,attr"`
	Password      string `xml:"password,attr"`
	Qualifiers    string `xml:"qualifiers,attr"`
	Configuration string `xml:"configuration,attr"`
	Label         string `xml:"Label"`
}

var (
	once  sync.Once
	props []Property
	err   error
)

// Properties returns the descriptor's properties in document order.
func Properties() ([]Property, error) {
	once.Do(func() { props, err = Parse(Descriptor) })
	return props, err
}

// Lookup returns the property with the full key, or false.
func Lookup(key string) (Property, bool) {
	ps, _ := Properties()
	for _, p := range ps {
		if p.Key == key {
			return p, true
		}
	}
	return Property{}, false
}

// Parse reads the ProductSection properties of an OVF envelope.
func Parse(data []byte) ([]Property, error) {
	var env xmlEnvelope
	if err := xml.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("ovf descriptor: %w", err)
	}
	var out []Property
	for _, ps := range env.Products {
		for _, x := range ps.Properties {
			key := x.Key
			if ps.Class != "" {
				key = ps.Class + "." + x.Key
			}
			p := Property{
				Key:      key,
				Type:     x.Type,
				Default:  x.Default,
				Password: x.Password == "true",
				Label:    strings.TrimSpace(x.Label),
			}
			if c := strings.TrimSpace(x.Configuration); c != "" {
				p.Configuration = strings.Fields(c)
			}
			if err := p.parseQualifiers(x.Qualifiers); err != nil {
				return nil, fmt.Errorf("ovf descriptor: property %s: %w", key, err)
			}
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ovf descriptor: no ProductSection properties")
	}
	return out, nil
}

// parseQualifiers understands the qualifiers the vSphere wizard enforces
// for the types we use: MinLen(n), MaxLen(n), MinValue(n), MaxValue(n).
// ValueMap{...} is accepted and ignored (we declare none).
func (p *Property) parseQualifiers(q string) error {
	for _, part := range splitQualifiers(q) {
		name, arg, ok := strings.Cut(part, "(")
		if !ok {
			if strings.HasPrefix(part, "ValueMap{") {
				continue
			}
			return fmt.Errorf("qualifier %q: want Name(value)", part)
		}
		arg = strings.TrimSuffix(arg, ")")
		n, err := strconv.ParseInt(strings.TrimSpace(arg), 10, 64)
		if err != nil {
			return fmt.Errorf("qualifier %q: %v", part, err)
		}
		switch strings.TrimSpace(name) {
		case "MinLen":
			p.MinLen = int(n)
		case "MaxLen":
			p.MaxLen = int(n)
		case "MinValue":
			p.MinValue = &n
		case "MaxValue":
			p.MaxValue = &n
		default:
			return fmt.Errorf("qualifier %q is not one the configurator enforces", part)
		}
	}
	return nil
}

// splitQualifiers splits on commas outside braces, so a ValueMap{a,b}
// stays one piece.
func splitQualifiers(q string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range q {
		switch r {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				if s := strings.TrimSpace(q[start:i]); s != "" {
					out = append(out, s)
				}
				start = i + 1
			}
		}
	}
	if s := strings.TrimSpace(q[start:]); s != "" {
		out = append(out, s)
	}
	return out
}
