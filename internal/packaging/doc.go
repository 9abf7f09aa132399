// Package packaging holds no code: its tests check what turns the commands
// into an appliance component, as a VM builder installs it. They verify the
// systemd units in systemd/ with systemd-analyze (after `make install` has
// put the real binaries where ExecStart= points), check the properties the
// units promise (ordering, Type=, no route flush on stop, sandboxing), and
// run `make install` and `make uninstall` into a staging directory.
package packaging
