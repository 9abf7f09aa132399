package onlink

import (
	"net/netip"
	"testing"
	"time"

	"github.com/anyip/anyip/internal/nd"
)

// What one solicitation costs the responder once read: parse, look up,
// decide, marshal the answer. The flood figures of DESIGN.md section 10
// are this times the read budget, plus the syscalls.
func BenchmarkSolicitationAnswered(b *testing.B) {
	e := NewEngine(ours, ip("fe80::1"), EngineConfig{Rate: 1e12, Burst: 1e12})
	e.SetRanges([]netip.Prefix{pfx("fd00::1:0/120"), pfx("fd00:1::/64")})
	pkt, _, err := ns("fd00::9", "fd00::1:5").Marshal(theirs, nil)
	if err != nil {
		b.Fatal(err)
	}
	now := t0
	e.Handle(now, mustParse(b, pkt), theirs)
	e.Tick(now.Add(time.Second))
	e.Drain()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := nd.ParseNDP(pkt)
		if err != nil {
			b.Fatal(err)
		}
		e.Handle(now, m, theirs)
		out, _ := e.Drain()
		for _, s := range out {
			if _, _, err := s.Msg.Marshal(ours, s.DstMAC); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// A solicitation for an address outside every range: parse and look up.
func BenchmarkSolicitationIgnored(b *testing.B) {
	e := NewEngine(ours, ip("fe80::1"), EngineConfig{})
	e.SetRanges([]netip.Prefix{pfx("fd00::1:0/120"), pfx("fd00:1::/64")})
	pkt, _, err := ns("fd00::9", "fd00::2:5").Marshal(theirs, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m, err := nd.ParseNDP(pkt)
		if err != nil {
			b.Fatal(err)
		}
		e.Handle(t0, m, theirs)
	}
}

func mustParse(b *testing.B, pkt []byte) nd.Msg {
	m, err := nd.ParseNDP(pkt)
	if err != nil {
		b.Fatal(err)
	}
	return m
}
