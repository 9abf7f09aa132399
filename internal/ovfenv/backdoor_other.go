//go:build !(386 || amd64)

package ovfenv

import (
	"errors"
	"runtime"
)

// The VMware backdoor is an x86 I/O port; govmomi's toolbox does not build
// elsewhere, so on other architectures the channel reports that it cannot
// exist and the other sources are tried.
var errNoBackdoor = errors.New("the VMware backdoor exists only on x86, not " + runtime.GOARCH)

type noBackdoor struct{}

func (noBackdoor) Start() error             { return errNoBackdoor }
func (noBackdoor) Stop() error              { return nil }
func (noBackdoor) Send([]byte) error        { return errNoBackdoor }
func (noBackdoor) Receive() ([]byte, error) { return nil, errNoBackdoor }

func vmwareBackdoor() Channel { return noBackdoor{} }

func isNotVirtual(err error) bool { return false }
