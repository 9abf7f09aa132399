package main

import (
	"errors"
	"io/fs"
	"net/netip"

	"github.com/anyip/anyip/internal/haproxycfg"
	"github.com/anyip/anyip/internal/textfile"
)

// bindAddrs are the IP addresses HAProxy binds, announced first when a
// range is added. A missing or unreadable configuration gives none: the
// announcement then covers the ranges' first addresses only.
func bindAddrs(path string) ([]netip.Addr, error) {
	if path == "" {
		return nil, nil
	}
	data, err := textfile.ReadFile(path, haproxycfg.MaxSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := haproxycfg.Parse(path, data)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, b := range c.Binds {
		for _, a := range b.Addrs {
			if a.Kind == haproxycfg.IP {
				out = append(out, a.IP)
			}
		}
	}
	return out, nil
}

// updateOnLink hands the applied ranges to the responders and
// announcers, with the facts they were checked against.
func (s *service) updateOnLink() {
	if s.onlink == nil || !s.applied {
		return
	}
	binds, err := bindAddrs(s.o.haproxyConfig)
	if err != nil && err.Error() != s.bindErr {
		s.log.Warn("cannot read HAProxy's binds; announcing the ranges' first addresses only", "path", s.o.haproxyConfig, "err", err)
	}
	s.bindErr = ""
	if err != nil {
		s.bindErr = err.Error()
	}
	s.onlink.Update(s.desired, s.facts, binds)
}
