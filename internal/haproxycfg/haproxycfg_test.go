package haproxycfg

import (
	"fmt"
	"strings"
	"testing"
)

// one parses a config with a single frontend holding the given bind line.
func one(t *testing.T, line string) Bind {
	t.Helper()
	c, err := Parse("h.cfg", []byte("frontend fe\n    "+line+"\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(c.Binds) != 1 {
		t.Fatalf("%q: %d binds, want 1", line, len(c.Binds))
	}
	return c.Binds[0]
}

// show renders an address compactly for comparison:
// "ip 10.0.0.1 80-80 tcp", "wildcard 0.0.0.0 80-80 tcp", "socket (UNIX socket)",
// "unresolved (host name lb)", "invalid: <message>".
func show(a Addr) string {
	switch a.Kind {
	case IP, Wildcard:
		return fmt.Sprintf("%s %s %d-%d %s", a.Kind, a.IP, a.FirstPort, a.LastPort, a.Transport)
	case Socket, Unresolved:
		return fmt.Sprintf("%s (%s)", a.Kind, a.Reason)
	case Invalid:
		if a.Err == nil {
			return "invalid without error"
		}
		return "invalid: " + a.Err.Error()
	}
	return "?"
}

func TestBindAddresses(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string // show() of each address; "invalid:" matches by prefix + substring after
	}{
		// IPv4
		{"bind 10.0.0.1:80", []string{"ip 10.0.0.1 80-80 tcp"}},
		{"bind 10.0.0.1:443 ssl crt /etc/haproxy/cert.pem alpn h2,http/1.1", []string{"ip 10.0.0.1 443-443 tcp"}},
		{"bind 10.0.0.1:8000-8010", []string{"ip 10.0.0.1 8000-8010 tcp"}},
		{"bind ipv4@10.0.0.1:80", []string{"ip 10.0.0.1 80-80 tcp"}},
		{"bind tcp4@10.0.0.1:80", []string{"ip 10.0.0.1 80-80 tcp"}},
		{"bind udp@10.0.0.1:514", []string{"ip 10.0.0.1 514-514 udp"}},
		{"bind quic4@10.0.0.1:443 ssl crt x.pem", []string{"ip 10.0.0.1 443-443 quic"}},
		// Wildcards
		{"bind :80", []string{"wildcard 0.0.0.0 80-80 tcp"}},
		{"bind *:80", []string{"wildcard 0.0.0.0 80-80 tcp"}},
		{"bind 0.0.0.0:80", []string{"wildcard 0.0.0.0 80-80 tcp"}},
		{"bind :::80 v4v6", []string{"wildcard :: 80-80 tcp"}},
		{"bind [::]:80", []string{"wildcard :: 80-80 tcp"}},
		{"bind ipv6@:80", []string{"wildcard :: 80-80 tcp"}},
		{"bind ipv4@:80", []string{"wildcard 0.0.0.0 80-80 tcp"}},
		{"bind :8000-8010", []string{"wildcard 0.0.0.0 8000-8010 tcp"}},
		// IPv6
		{"bind [2001:db8::10]:443", []string{"ip 2001:db8::10 443-443 tcp"}},
		{"bind 2001:db8::10:443", []string{"ip 2001:db8::10 443-443 tcp"}},
		{"bind ipv6@[2001:db8::10]:443", []string{"ip 2001:db8::10 443-443 tcp"}},
		{"bind ipv6@2001:db8::10:443", []string{"ip 2001:db8::10 443-443 tcp"}},
		{"bind [fe80::1%eth0]:80", []string{"ip fe80::1 80-80 tcp"}},
		{"bind [::ffff:10.0.0.1]:80", []string{"ip 10.0.0.1 80-80 tcp"}},
		// Lists
		{"bind 10.0.0.1:80,10.0.0.2:80,[2001:db8::1]:80", []string{"ip 10.0.0.1 80-80 tcp", "ip 10.0.0.2 80-80 tcp", "ip 2001:db8::1 80-80 tcp"}},
		{"bind :80,:443 v4v6", []string{"wildcard 0.0.0.0 80-80 tcp", "wildcard 0.0.0.0 443-443 tcp"}},
		{"bind 10.0.0.1:80, 10.0.0.2:80 transparent", []string{"ip 10.0.0.1 80-80 tcp", "invalid: remove the blank after the comma"}},
		{"bind 10.0.0.1:80,/var/run/x.sock", []string{"ip 10.0.0.1 80-80 tcp", "socket (UNIX socket)"}},
		// Sockets
		{"bind /var/run/haproxy.sock mode 600 level admin", []string{"socket (UNIX socket)"}},
		{"bind unix@/var/run/haproxy.sock", []string{"socket (UNIX socket)"}},
		{"bind abns@haproxy-peers", []string{"socket (abstract UNIX socket)"}},
		{"bind fd@3", []string{"socket (inherited file descriptor)"}},
		{"bind fd@${LISTEN_FD}", []string{"socket (inherited file descriptor)"}},
		{"bind sockpair@5", []string{"socket (socket pair)"}},
		// Quotes and variables
		{`bind "10.0.0.1:80"`, []string{"ip 10.0.0.1 80-80 tcp"}},
		{`bind '10.0.0.1':80`, []string{"ip 10.0.0.1 80-80 tcp"}},
		{`bind "${VIP}:443" ssl crt x.pem`, []string{"unresolved (environment variable ${VIP})"}},
		{`bind "$VIP:443"`, []string{"unresolved (environment variable $VIP)"}},
		{`bind ipv4@"${VIP}":80`, []string{"unresolved (environment variable ${VIP})"}},
		{`bind 10.0.0.1:80,"${VIP2}:80"`, []string{"ip 10.0.0.1 80-80 tcp", "unresolved (environment variable ${VIP2})"}},
		// Host names: HAProxy resolves them at start-up; we do not guess.
		{"bind lb.example.internal:80", []string{"unresolved (host name lb.example.internal)"}},
		{"bind localhost:80", []string{"unresolved (host name localhost)"}},
		// Comments
		{"bind 10.0.0.1:80 # the web VIP", []string{"ip 10.0.0.1 80-80 tcp"}},
		{"bind 10.0.0.1:80#web", []string{"ip 10.0.0.1 80-80 tcp"}},
		{`bind 10.0.0.1:80 name a\#b`, []string{"ip 10.0.0.1 80-80 tcp"}},
		// Malformed
		{"bind 10.0.0.1", []string{"invalid: has no port"}},
		{"bind 10.0.0.1:", []string{"invalid: the port is missing"}},
		{"bind 10.0.0.1:http", []string{`invalid: "http" is not a port number`}},
		{"bind 10.0.0.1:0", []string{"invalid: port 0 is out of range"}},
		{"bind 10.0.0.1:70000", []string{"invalid: port 70000 is out of range"}},
		{"bind 10.0.0.1:90-80", []string{"invalid: ends before it starts"}},
		{"bind 10.0.0.1:80-", []string{`invalid: "" is not a port number`}},
		{"bind 10.0.0.300:80", []string{`invalid: "10.0.0.300" is not an IP address`}},
		{"bind [2001:db8::1:80", []string{"invalid: has '[' without ']'"}},
		{"bind [2001:db8::1]80", []string{"invalid: has no port"}},
		{"bind []:80", []string{"invalid: empty address in brackets"}},
		{"bind ipv4@[2001:db8::1]:80", []string{"invalid: is not an IPv4 address"}},
		{"bind ipv6@10.0.0.1:80", []string{"invalid: is not an IPv6 address"}},
		{"bind foo@10.0.0.1:80", []string{`invalid: unknown address prefix "foo@"`}},
		{"bind 10.0.0.1:80,", []string{"ip 10.0.0.1 80-80 tcp"}},
	} {
		b := one(t, c.line)
		if b.Err != nil {
			t.Errorf("%q: line error %v", c.line, b.Err)
			continue
		}
		if len(b.Addrs) != len(c.want) {
			var got []string
			for _, a := range b.Addrs {
				got = append(got, show(a))
			}
			t.Errorf("%q: addresses %q, want %q", c.line, got, c.want)
			continue
		}
		for i, a := range b.Addrs {
			got, want := show(a), c.want[i]
			if msg, ok := strings.CutPrefix(want, "invalid: "); ok {
				if a.Kind != Invalid || !strings.Contains(got, msg) {
					t.Errorf("%q: address %d = %s, want an error containing %q", c.line, i, got, msg)
				}
				continue
			}
			if got != want {
				t.Errorf("%q: address %d = %s, want %s", c.line, i, got, want)
			}
		}
	}
}

func TestBindOptions(t *testing.T) {
	b := one(t, `bind 10.0.0.1:443,10.0.0.2:443 ssl crt "/etc/haproxy/my certs/a.pem" transparent v4v6 namespace blue name "web tls"`)
	want := []string{"ssl", "crt", "/etc/haproxy/my certs/a.pem", "transparent", "v4v6", "namespace", "blue", "name", "web tls"}
	if strings.Join(b.Options, "|") != strings.Join(want, "|") {
		t.Errorf("options %q, want %q", b.Options, want)
	}
	if !b.Transparent || !b.V4V6 || b.V6Only || b.Namespace != "blue" {
		t.Errorf("transparent %v v4v6 %v v6only %v namespace %q", b.Transparent, b.V4V6, b.V6Only, b.Namespace)
	}
	if b := one(t, "bind [::]:80 v6only"); !b.V6Only || b.Transparent {
		t.Errorf("v6only %v transparent %v", b.V6Only, b.Transparent)
	}
}

func TestBindLineErrors(t *testing.T) {
	for _, c := range []struct{ line, msg string }{
		{"bind", "bind has no address"},
		{"bind # nothing", "bind has no address"},
		{`bind "10.0.0.1:80`, "quote is not closed"},
		{`bind '10.0.0.1:80`, "quote is not closed"},
		{`bind 10.0.0.1:80 \`, "lone backslash"},
		{`bind 10.0.0.1:80 name \xZZ`, `bad escape \xZZ`},
		{`bind ,`, "empty address list"},
	} {
		b := one(t, c.line)
		if b.Err == nil || !strings.Contains(b.Err.Error(), c.msg) {
			t.Errorf("%q: error %v, want one containing %q", c.line, b.Err, c.msg)
		}
		if b.Err != nil && len(b.Addrs) != 0 {
			t.Errorf("%q: error and %d addresses", c.line, len(b.Addrs))
		}
	}
}

// TestSections: binds are taken from frontend and listen sections only,
// with their line numbers, whatever the indentation and line ends.
func TestSections(t *testing.T) {
	cfg := strings.Join([]string{
		"# HAProxy appliance configuration", // 1
		"global",                            // 2
		"    stats socket /run/haproxy/admin.sock mode 660 level admin", // 3
		"    bind 10.9.9.9:1",             // 4: not a section that binds
		"defaults",                        // 5
		"    mode http",                   // 6
		"    timeout connect 5s",          // 7
		"",                                // 8
		"frontend web",                    // 9
		"    bind 10.0.0.1:80",            // 10
		"    # bind 10.0.0.2:80",          // 11: commented out
		"    bind :443 ssl crt x",         // 12
		"    default_backend pool",        // 13
		"backend pool",                    // 14
		"    bind 10.9.9.9:2",             // 15: backends cannot bind
		"    server s1 10.1.0.1:80 check", // 16
		"listen stats",                    // 17
		"\tbind 10.0.0.3:8404",            // 18
		"  frontend  \"api gw\"  ",        // 19
		"bind [2001:db8::1]:6443",         // 20: keywords need no indentation
		"peers mypeers",                   // 21
		"    bind 10.9.9.9:3",             // 22
		"    peer lb1 10.0.0.1:1024",      // 23
		"log-forward syslog",              // 24
		"    bind 10.9.9.9:514",           // 25
		"frontend",                        // 26: no name
		"    bind 10.0.0.4:80",            // 27
	}, "\r\n")
	c, err := Parse("/etc/haproxy/haproxy.cfg", []byte("\ufeff"+cfg))
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		section string
		line    int
		addr    string
	}
	var gs []got
	for _, b := range c.Binds {
		if b.Err != nil {
			t.Fatalf("line %d: %v", b.Line, b.Err)
		}
		for _, a := range b.Addrs {
			gs = append(gs, got{b.Section.String(), b.Line, show(a)})
		}
	}
	want := []got{
		{"frontend web", 10, "ip 10.0.0.1 80-80 tcp"},
		{"frontend web", 12, "wildcard 0.0.0.0 443-443 tcp"},
		{"listen stats", 18, "ip 10.0.0.3 8404-8404 tcp"},
		{"frontend api gw", 20, "ip 2001:db8::1 6443-6443 tcp"},
		{"frontend", 27, "ip 10.0.0.4 80-80 tcp"},
	}
	if fmt.Sprint(gs) != fmt.Sprint(want) {
		t.Errorf("binds\n got %v\nwant %v", gs, want)
	}
	if len(c.Sections) != 4 || c.Sections[0] != (Section{"frontend", "web", 9}) || c.Sections[2].Line != 19 {
		t.Errorf("sections %+v", c.Sections)
	}
	if bs := c.BindsOf(c.Sections[0]); len(bs) != 2 || bs[1].Text != "bind :443 ssl crt x" {
		t.Errorf("BindsOf(frontend web) = %+v", bs)
	}
}

func TestParseErrors(t *testing.T) {
	if _, err := Parse("x.cfg", []byte("frontend a\n bind :80\x00\n")); err == nil || !strings.Contains(err.Error(), "x.cfg: contains NUL") {
		t.Errorf("NUL: %v", err)
	}
	if _, err := Parse("x.cfg", make([]byte, MaxSize+1)); err == nil || !strings.Contains(err.Error(), "bytes long") {
		t.Errorf("size: %v", err)
	}
	c, err := Parse("empty.cfg", nil)
	if err != nil || len(c.Binds) != 0 || c.Path != "empty.cfg" {
		t.Errorf("empty: %+v %v", c, err)
	}
}
