# anyip: first-boot configurator and AnyIP route service.
#
#   make demo    build, then run first boot on the example 3-NIC environment
#                inside a throw-away network namespace, and show the result
#   make test    install test dependencies, then run every test
#   make bench   benchmarks with ratios against the old shell loop and ip -batch
#   make boot-test  boot the appliance under systemd (systemd-nspawn) and walk
#                its life: first boot, restarts, hand edits, reboots

GO       ?= go
PREFIX   ?= /usr
DESTDIR  ?=
SYSCONFDIR ?= /etc
UNITDIR  ?= /lib/systemd/system
BIN      := bin
CMDS     := anyip-firstboot anyip-routes
# --version says which source a binary was built from.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
GOFLAGS_BUILD := -trimpath -ldflags='-s -w -X github.com/anyip/anyip/internal/cli.Version=$(VERSION)'
FUZZTIME ?= 10s

.PHONY: all build demo test unit deps vet fuzz bench boot-image boot-test install uninstall clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/ ./cmd/...

demo: deps build
	./scripts/demo.sh

deps:
	./scripts/deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo 'gofmt: files above need formatting' >&2; exit 1; }
	$(GO) vet ./...

# Route tests create network namespaces, so they run as root; with
# ANYIP_REQUIRE_NETNS=1 a test that cannot create one fails, not skips.
# The boot test (internal/boottest) is one of them; its image is built here
# first when it is not cached, so that no test waits on the download.
test: deps vet build boot-image
	$(GO) test -count=1 ./...
	$(MAKE) fuzz

# The Debian root filesystem the boot test starts from, cached outside the
# clone (ANYIP_BOOT_CACHE, default /var/cache/anyip-boottest).
boot-image: deps
	@./scripts/boot-image.sh >/dev/null

boot-test: deps boot-image
	$(GO) test -count=1 -v ./internal/boottest/

unit:
	$(GO) test -count=1 ./...

fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) ./scripts/fuzz.sh

bench: deps build
	./scripts/bench.sh

# Installs the appliance component (see README, "Building the appliance"):
#   $(PREFIX)/sbin/anyip-firstboot, $(PREFIX)/sbin/anyip-routes
#   $(UNITDIR)/anyip-firstboot.service, anyip-routes.service (@SBINDIR@ -> $(PREFIX)/sbin)
#   $(SYSCONFDIR)/iproute2/rt_protos.d/anyip.conf   (so `ip route` prints "proto anyip")
#   $(PREFIX)/lib/sysctl.d/60-anyip.conf            (lets HAProxy bind IPv6 VIPs)
#   $(SYSCONFDIR)/iproute2/rt_tables.d/anyip.conf   (the names of the workload and frontend route tables)
#   $(PREFIX)/lib/systemd/network/10-anyip-*.link   (NICs named by role from their pinned PCI slots)
#   $(PREFIX)/lib/systemd/networkd.conf.d/anyip.conf (networkd leaves others' routes and rules alone)
#   $(SYSCONFDIR)/vmware/anyip-routes.cfg           (only if there is none: never an operator's file)
# DESTDIR stages everything under another root, as a package build does.
install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/iproute2/rt_protos.d $(DESTDIR)$(SYSCONFDIR)/vmware
	install -m 0755 $(addprefix $(BIN)/,$(CMDS)) $(DESTDIR)$(PREFIX)/sbin/
	set -e; for u in systemd/*.service; do \
		sed 's|@SBINDIR@|$(PREFIX)/sbin|g' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u).tmp; \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u).tmp; \
		mv -f $(DESTDIR)$(UNITDIR)/$$(basename $$u).tmp $(DESTDIR)$(UNITDIR)/$$(basename $$u); \
	done
	install -m 0644 systemd/anyip.rt_protos $(DESTDIR)$(SYSCONFDIR)/iproute2/rt_protos.d/anyip.conf
	install -D -m 0644 systemd/anyip.sysctl $(DESTDIR)$(PREFIX)/lib/sysctl.d/60-anyip.conf
	install -D -m 0644 systemd/anyip.rt_tables $(DESTDIR)$(SYSCONFDIR)/iproute2/rt_tables.d/anyip.conf
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/network
	install -m 0644 systemd/network/*.link $(DESTDIR)$(PREFIX)/lib/systemd/network/
	install -D -m 0644 systemd/anyip-networkd.conf $(DESTDIR)$(PREFIX)/lib/systemd/networkd.conf.d/anyip.conf
	@# Never overwrite an operator's ranges.
	test -e $(DESTDIR)$(SYSCONFDIR)/vmware/anyip-routes.cfg || install -m 0644 systemd/anyip-routes.cfg $(DESTDIR)$(SYSCONFDIR)/vmware/anyip-routes.cfg

# Removes what install put there. The ranges file is the operator's data and
# stays, unless it is still byte for byte the default install wrote. Disable
# the units first on a live system (systemctl disable --now ...); stopping
# anyip-routes leaves the routes in place, `anyip-routes down` removes them.
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/sbin/,$(CMDS))
	for u in systemd/*.service; do rm -f $(DESTDIR)$(UNITDIR)/$$(basename $$u); done
	rm -f $(DESTDIR)$(SYSCONFDIR)/iproute2/rt_protos.d/anyip.conf
	rm -f $(DESTDIR)$(PREFIX)/lib/sysctl.d/60-anyip.conf
	rm -f $(DESTDIR)$(SYSCONFDIR)/iproute2/rt_tables.d/anyip.conf
	for l in systemd/network/*.link; do rm -f $(DESTDIR)$(PREFIX)/lib/systemd/network/$$(basename $$l); done
	rm -f $(DESTDIR)$(PREFIX)/lib/systemd/networkd.conf.d/anyip.conf
	if cmp -s systemd/anyip-routes.cfg $(DESTDIR)$(SYSCONFDIR)/vmware/anyip-routes.cfg; then rm -f $(DESTDIR)$(SYSCONFDIR)/vmware/anyip-routes.cfg; fi

clean:
	rm -rf $(BIN)
