package routes

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// rtmsg builds the payload of an RTM_NEWROUTE message as the kernel sends
// it in a dump.
type rtmsg struct {
	family, dstLen, srcLen, table, proto, typ uint8
	dst                                       []byte
	rtaTable, oif, metric                     uint32
	multipath                                 bool
}

func (m rtmsg) bytes() []byte {
	b := []byte{m.family, m.dstLen, m.srcLen, 0, m.table, m.proto, unix.RT_SCOPE_HOST, m.typ, 0, 0, 0, 0}
	ae := netlink.NewAttributeEncoder()
	if m.rtaTable != 0 {
		ae.Uint32(unix.RTA_TABLE, m.rtaTable)
	}
	if m.dst != nil {
		ae.Bytes(unix.RTA_DST, m.dst)
	}
	if m.metric != 0 {
		ae.Uint32(unix.RTA_PRIORITY, m.metric)
	}
	if m.multipath {
		ae.Bytes(unix.RTA_MULTIPATH, make([]byte, 8))
	}
	if m.oif != 0 {
		ae.Uint32(unix.RTA_OIF, m.oif)
	}
	attrs, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	return append(b, attrs...)
}

func TestDecodeRoute(t *testing.T) {
	const lo = 7 // not 1: the index is looked up, never assumed
	v4 := func(s string) []byte { a := netip.MustParseAddr(s).As4(); return a[:] }
	v6 := func(s string) []byte { a := netip.MustParseAddr(s).As16(); return a[:] }
	local4 := rtmsg{family: unix.AF_INET, dstLen: 24, table: unix.RT_TABLE_LOCAL, rtaTable: unix.RT_TABLE_LOCAL, proto: Protocol, typ: unix.RTN_LOCAL, dst: v4("10.0.0.0"), oif: lo}

	for _, tc := range []struct {
		name string
		msg  func(m rtmsg) rtmsg
		fam  uint8
		want Current
	}{
		{"ours", func(m rtmsg) rtmsg { return m }, unix.AF_INET, Current{Ours: pfxs("10.0.0.0/24")}},
		{"foreign with metric", func(m rtmsg) rtmsg { m.proto, m.metric = protoStatic, 9; return m }, unix.AF_INET,
			Current{Foreign: []Route{{Prefix: netip.MustParsePrefix("10.0.0.0/24"), Protocol: protoStatic, Metric: 9}}}},
		{"IPv6", func(m rtmsg) rtmsg {
			m.family, m.dst, m.dstLen = unix.AF_INET6, v6("2001:db8:1::"), 64
			return m
		}, unix.AF_INET6, Current{Ours: pfxs("2001:db8:1::/64")}},
		{"default route has no RTA_DST", func(m rtmsg) rtmsg { m.dst, m.dstLen = nil, 0; return m }, unix.AF_INET, Current{Ours: pfxs("0.0.0.0/0")}},
		{"IPv6 default route", func(m rtmsg) rtmsg { m.family, m.dst, m.dstLen = unix.AF_INET6, nil, 0; return m }, unix.AF_INET6, Current{Ours: pfxs("::/0")}},
		{"header table is enough", func(m rtmsg) rtmsg { m.rtaTable = 0; return m }, unix.AF_INET, Current{Ours: pfxs("10.0.0.0/24")}},
		{"other device", func(m rtmsg) rtmsg { m.oif = lo + 1; return m }, unix.AF_INET, Current{}},
		{"no device (multipath)", func(m rtmsg) rtmsg { m.oif, m.multipath = 0, true; return m }, unix.AF_INET, Current{}},
		{"other table (RTA_TABLE wins)", func(m rtmsg) rtmsg { m.table, m.rtaTable = 252, 1000; return m }, unix.AF_INET, Current{}},
		{"main table", func(m rtmsg) rtmsg { m.table, m.rtaTable = unix.RT_TABLE_MAIN, unix.RT_TABLE_MAIN; return m }, unix.AF_INET, Current{}},
		{"not type local", func(m rtmsg) rtmsg { m.typ = unix.RTN_UNICAST; return m }, unix.AF_INET, Current{}},
		{"source-specific", func(m rtmsg) rtmsg { m.srcLen = 8; return m }, unix.AF_INET, Current{}},
		{"other family than dumped", func(m rtmsg) rtmsg { return m }, unix.AF_INET6, Current{}},
		{"address of the wrong size", func(m rtmsg) rtmsg { m.dst = v6("2001:db8::"); return m }, unix.AF_INET, Current{}},
		{"impossible length", func(m rtmsg) rtmsg { m.dstLen = 33; return m }, unix.AF_INET, Current{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl := &Table{lo: lo}
			var cur Current
			tbl.decodeRoute(tc.msg(local4).bytes(), tc.fam, &cur)
			if !reflect.DeepEqual(cur, tc.want) {
				t.Errorf("got %+v, want %+v", cur, tc.want)
			}
		})
	}

	t.Run("truncated", func(t *testing.T) {
		b := local4.bytes()
		for n := range len(b) {
			var cur Current
			(&Table{lo: lo}).decodeRoute(b[:n], unix.AF_INET, &cur) // must not panic
			if len(cur.Ours) != 0 && n < len(b)-8 {
				t.Errorf("decoded %v from %d of %d bytes", cur.Ours, n, len(b))
			}
		}
	})
}

// TestRouteMsgRoundTrip decodes what routeMsg encodes: an add names
// the same route a dump shows for it.
func TestRouteMsgRoundTrip(t *testing.T) {
	for _, p := range pfxs("10.0.0.0/24", "0.0.0.0/0", "192.0.2.7/32", "2001:db8:1::/64", "::/0", "2001:db8::1/128") {
		for _, kind := range []opKind{opAdd, opAdopt, opDelete} {
			o := op{kind: kind, prefix: p, metric: 42}
			m, err := routeMsg(&o, 99, 3)
			if err != nil {
				t.Fatalf("%v %v: %v", kind, p, err)
			}
			b, err := m.MarshalBinary()
			if err != nil {
				t.Fatalf("%v %v: marshal: %v", kind, p, err)
			}
			if len(b) > maxRouteMsg {
				t.Errorf("%v %v: %d bytes, more than maxRouteMsg", kind, p, len(b))
			}
			var got netlink.Message
			if err := got.UnmarshalBinary(b); err != nil {
				t.Fatalf("%v %v: unmarshal: %v", kind, p, err)
			}
			h := got.Header
			if int(h.Length) != len(b) || h.Sequence != 99 || h.Flags&netlink.Acknowledge == 0 {
				t.Errorf("%v %v: header %+v for %d bytes", kind, p, h, len(b))
			}
			wantType := netlink.HeaderType(unix.RTM_NEWROUTE)
			if kind == opDelete {
				wantType = unix.RTM_DELROUTE
			}
			if h.Type != wantType {
				t.Errorf("%v %v: type %d", kind, p, h.Type)
			}
			fam := uint8(unix.AF_INET6)
			if p.Addr().Is4() {
				fam = unix.AF_INET
			}
			var cur Current
			(&Table{lo: 3}).decodeRoute(got.Data, fam, &cur)
			if len(cur.Ours) != 1 || cur.Ours[0] != p {
				t.Errorf("%v %v: decodes to %+v", kind, p, cur)
			}
		}
	}
}
