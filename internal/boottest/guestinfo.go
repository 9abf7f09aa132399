package boottest

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// GuestInfo stands in for the VMX's side of guestinfo: it holds the
// variables a VM's configuration would (guestinfo.ovfEnv among them), and
// records every info-set with the systemd unit of the process that made it.
// The appliance reaches it over a unix socket bind-mounted into the
// container, through the stand-in vmware-rpctool (image/vmware-rpctool).
//
// A socket is the one way in that the sandboxed units keep: under
// ProtectSystem=strict a helper can write no file, but connecting to a socket
// on a read-only mount still works.
type GuestInfo struct {
	// Dir is the host directory holding the socket, mounted at guestDir.
	Dir string

	ln  net.Listener
	srv *http.Server

	mu   sync.Mutex
	vars map[string]string
	sets []InfoSet
}

// InfoSet is one info-set request as the guest made it.
type InfoSet struct {
	Key, Value string
	// Unit is the systemd unit (cgroup) of the calling process inside the
	// container, "" when it could not be told.
	Unit string
	At   time.Time
}

// guestDir is where the socket appears inside the container; the stand-in
// vmware-rpctool names the same path.
const (
	guestDir   = "/run/anyip-guestinfo"
	socketName = "rpc.sock"
)

type peerKey struct{}

// newGuestInfo listens on dir/rpc.sock.
func newGuestInfo(dir string) (*GuestInfo, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", filepath.Join(dir, socketName))
	if err != nil {
		return nil, err
	}
	g := &GuestInfo{Dir: dir, ln: ln, vars: map[string]string{}}
	g.srv = &http.Server{
		Handler:           http.HandlerFunc(g.serve),
		ReadHeaderTimeout: 5 * time.Second,
		// The caller's unit is read while its connection is open, that is
		// while the caller (curl in the stand-in) still exists.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerKey{}, peerUnit(c))
		},
	}
	go g.srv.Serve(ln)
	return g, nil
}

// Close stops the server.
func (g *GuestInfo) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	g.srv.Shutdown(ctx)
}

// Set sets a variable as `vmware-cmd setguestinfo` (or the VM's advanced
// settings) would; an empty value unsets it.
func (g *GuestInfo) Set(key, value string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if value == "" {
		delete(g.vars, key)
		return
	}
	g.vars[key] = value
}

// Get returns a variable and whether it is set.
func (g *GuestInfo) Get(key string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, ok := g.vars[key]
	return v, ok
}

// Sets returns every info-set so far, oldest first.
func (g *GuestInfo) Sets() []InfoSet {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]InfoSet(nil), g.sets...)
}

// maxRequest bounds one request: guestinfo values are small, and the
// published status is capped well below this.
const maxRequest = 1 << 20

// serve answers one RPC: the body is the request as vmware-rpctool takes
// it ("info-get KEY" or "info-set KEY VALUE"). A variable that is not set
// is a 404, which the stand-in turns into vmware-rpctool's "No value found"
// and exit status 1.
func (g *GuestInfo) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil || len(body) > maxRequest {
		http.Error(w, "request unreadable or too large", http.StatusBadRequest)
		return
	}
	verb, rest, _ := strings.Cut(string(body), " ")
	switch verb {
	case "info-get":
		v, ok := g.Get(strings.TrimSpace(rest))
		if !ok {
			http.Error(w, "No value found", http.StatusNotFound)
			return
		}
		io.WriteString(w, v)
	case "info-set":
		key, value, _ := strings.Cut(rest, " ")
		unit, _ := r.Context().Value(peerKey{}).(string)
		g.mu.Lock()
		g.vars[key] = value
		g.sets = append(g.sets, InfoSet{Key: key, Value: value, Unit: unit, At: time.Now()})
		g.mu.Unlock()
	default:
		http.Error(w, "Unknown command", http.StatusBadRequest)
	}
}

// peerUnit names the systemd unit of the process at the other end of a
// unix connection, from its cgroup as the host sees it.
func peerUnit(c net.Conn) string {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ""
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ""
	}
	var cred *unix.Ucred
	raw.Control(func(fd uintptr) {
		cred, _ = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cred == nil || cred.Pid <= 0 {
		return ""
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(int(cred.Pid)) + "/cgroup")
	if err != nil {
		return ""
	}
	return unitOfCgroup(string(data))
}

// unitOfCgroup finds the innermost unit in /proc/PID/cgroup: the systemd
// hierarchy on a cgroup v1 host, the unified one otherwise.
func unitOfCgroup(s string) string {
	var path string
	for _, l := range strings.Split(s, "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[1] == "name=systemd" || (f[0] == "0" && f[1] == "" && path == "") {
			path = f[2]
		}
	}
	els := strings.Split(path, "/")
	for i := len(els) - 1; i >= 0; i-- {
		if strings.HasSuffix(els[i], ".service") || strings.HasSuffix(els[i], ".scope") {
			return els[i]
		}
	}
	return ""
}
