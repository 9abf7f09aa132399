package routes

import (
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// notification builds one route notification: rtmsg, no attributes.
func notification(typ uint16, table, rtype uint8) netlink.Message {
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(typ)},
		Data:   []byte{unix.AF_INET, 28, 0, 0, table, 241, unix.RT_SCOPE_HOST, rtype, 0, 0, 0, 0},
	}
}

func TestConcernsLocalTable(t *testing.T) {
	cat := func(ms ...netlink.Message) []netlink.Message { return ms }
	localNew := notification(unix.RTM_NEWROUTE, unix.RT_TABLE_LOCAL, unix.RTN_LOCAL)
	localDel := notification(unix.RTM_DELROUTE, unix.RT_TABLE_LOCAL, unix.RTN_LOCAL)
	mainNew := notification(unix.RTM_NEWROUTE, unix.RT_TABLE_MAIN, unix.RTN_UNICAST)
	bcast := notification(unix.RTM_NEWROUTE, unix.RT_TABLE_LOCAL, unix.RTN_BROADCAST)
	addr := notification(unix.RTM_NEWADDR, unix.RT_TABLE_LOCAL, unix.RTN_LOCAL)
	truncated := localNew
	truncated.Data = truncated.Data[:6]
	badAttr := localNew
	badAttr.Data = append(append([]byte(nil), localNew.Data...), 200, 0, 1, 0) // an attribute longer than the message
	for _, tc := range []struct {
		name string
		b    []netlink.Message
		want bool
	}{
		{"new local route", cat(localNew), true},
		{"deleted local route", cat(localDel), true},
		{"route in table main", cat(mainNew), false},
		{"broadcast route in table local", cat(bcast), false},
		{"not a route message", cat(addr), false},
		{"ours after others in one datagram", cat(mainNew, bcast, localDel), true},
		{"empty", nil, false},
		{"truncated", cat(truncated), false},
		{"bad length", cat(badAttr), false},
	} {
		if got := ConcernsLocalTable(tc.b); got != tc.want {
			t.Errorf("%s: ConcernsLocalTable = %v, want %v", tc.name, got, tc.want)
		}
	}
}
