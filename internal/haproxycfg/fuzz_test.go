package haproxycfg

import (
	"errors"
	"testing"

	"github.com/anyip/anyip/internal/textfile"
)

func FuzzParseHAProxy(f *testing.F) {
	for _, s := range []string{
		"frontend web\n    bind 10.0.0.1:80,[2001:db8::1]:443 ssl crt /x.pem\n",
		"frontend a\r\n bind :8000-8010 transparent\r\nlisten b\r\n\tbind \"${VIP}:80\" # c\r\n",
		"global\n bind 1.2.3.4:5\ndefaults\nbackend x\n bind 1:2\nlisten s\n bind unix@/run/x.sock,fd@3,abns@p\n",
		"frontend f\n bind ipv6@:::443 v4v6\n bind ipv4@*:80\n bind 'a b':1\n bind \\x41:1\n",
		"frontend f\n bind 10.0.0.1:80, 10.0.0.2:80\n bind [fe80::1%eth0]:80\n bind quic4@10.0.0.1:443\n",
		"frontend f\n bind \"unterminated\n bind \\\n bind\n bind ,,\n bind [::\n bind foo@bar\n",
		"\ufefffrontend\nbind 10.0.0.300:80\nbind 10.0.0.1:0\nbind host-name.example:443\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.cfg", data)
		if err != nil {
			var pe *ParseError
			if c != nil || !errors.As(err, &pe) || pe.Reason == "" {
				t.Fatalf("rejection without a reason, or with a result: %#v", err)
			}
			return
		}
		lines := 0 // as the shared line reader counts them: LF, CRLF or a bare CR ends one
		for range textfile.Lines(data) {
			lines++
		}
		for _, b := range c.Binds {
			if b.Line < 1 || b.Line > lines {
				t.Fatalf("bind on line %d of %d", b.Line, lines)
			}
			if b.Err != nil {
				if b.Err.Error() == "" || len(b.Addrs) != 0 {
					t.Fatalf("line %d: error %q with %d addresses", b.Line, b.Err, len(b.Addrs))
				}
				continue
			}
			if len(b.Addrs) == 0 {
				t.Fatalf("line %d: no error and no address", b.Line)
			}
			for _, a := range b.Addrs {
				switch a.Kind {
				case Invalid:
					if a.Err == nil || a.Err.Error() == "" {
						t.Fatalf("line %d: %q rejected without a message", b.Line, a.Text)
					}
					if len(a.Err.Error()) > 600 {
						t.Fatalf("line %d: message of %d bytes echoes the input", b.Line, len(a.Err.Error()))
					}
				case IP, Wildcard:
					if a.Err != nil || !a.IP.IsValid() || a.IP.Zone() != "" || a.IP.Is4In6() {
						t.Fatalf("line %d: %q accepted as %v (err %v)", b.Line, a.Text, a.IP, a.Err)
					}
					if a.FirstPort == 0 || a.LastPort < a.FirstPort {
						t.Fatalf("line %d: %q ports %d-%d", b.Line, a.Text, a.FirstPort, a.LastPort)
					}
					if a.IP.IsUnspecified() != (a.Kind == Wildcard) {
						t.Fatalf("line %d: %q kind %v for %v", b.Line, a.Text, a.Kind, a.IP)
					}
				case Socket, Unresolved:
					if a.Reason == "" || a.Err != nil {
						t.Fatalf("line %d: %q %v without a reason", b.Line, a.Text, a.Kind)
					}
				default:
					t.Fatalf("line %d: kind %v", b.Line, a.Kind)
				}
			}
		}
	})
}
