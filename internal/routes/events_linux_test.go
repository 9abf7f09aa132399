package routes

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// routeMsg builds one route notification: nlmsghdr, rtmsg, no attributes.
func routeMsg(typ uint16, table, rtype uint8) []byte {
	ne := binary.NativeEndian
	b := ne.AppendUint32(nil, unix.NLMSG_HDRLEN+unix.SizeofRtMsg)
	b = ne.AppendUint16(b, typ)
	b = ne.AppendUint16(b, 0)
	b = ne.AppendUint32(b, 0)
	b = ne.AppendUint32(b, 0)
	return append(b, unix.AF_INET, 28, 0, 0, table, 241, unix.RT_SCOPE_HOST, rtype, 0, 0, 0, 0)
}

func TestConcernsLocalTable(t *testing.T) {
	cat := func(ms ...[]byte) []byte {
		var b []byte
		for _, m := range ms {
			b = append(b, m...)
		}
		return b
	}
	localNew := routeMsg(unix.RTM_NEWROUTE, unix.RT_TABLE_LOCAL, unix.RTN_LOCAL)
	localDel := routeMsg(unix.RTM_DELROUTE, unix.RT_TABLE_LOCAL, unix.RTN_LOCAL)
	mainNew := routeMsg(unix.RTM_NEWROUTE, unix.RT_TABLE_MAIN, unix.RTN_UNICAST)
	bcast := routeMsg(unix.RTM_NEWROUTE, unix.RT_TABLE_LOCAL, unix.RTN_BROADCAST)
	addr := routeMsg(unix.RTM_NEWADDR, unix.RT_TABLE_LOCAL, unix.RTN_LOCAL)
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"new local route", localNew, true},
		{"deleted local route", localDel, true},
		{"route in table main", mainNew, false},
		{"broadcast route in table local", bcast, false},
		{"not a route message", addr, false},
		{"ours after others in one datagram", cat(mainNew, bcast, localDel), true},
		{"empty", nil, false},
		{"truncated", localNew[:10], false},
		{"bad length", cat(func() []byte { m := append([]byte(nil), mainNew...); m[0] = 200; return m }(), localNew), false},
	} {
		if got := ConcernsLocalTable(tc.b); got != tc.want {
			t.Errorf("%s: ConcernsLocalTable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
