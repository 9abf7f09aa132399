#!/usr/bin/env bash
# Prints the path of the Debian root filesystem tarball the boot test
# (internal/boottest) starts every container from, building it with
# mmdebstrap when it is missing.
#
# The tarball holds Debian packages only, nothing of this project: the test
# unpacks it, installs the project with `make install DESTDIR=...` and enables
# the units as an image builder would, so a change to the code never needs a
# new image. It is cached outside the clone (ANYIP_BOOT_CACHE, default
# /var/cache/anyip-boottest) under a name keyed by the suite, the package
# list, the apt sources and the recipe below, so a fresh clone on the same
# machine reuses it and a changed list builds a new one.
#
#   scripts/boot-image.sh           build if needed, print the path
#   scripts/boot-image.sh --key     print the path it would use, build nothing
set -euo pipefail

suite=bookworm
# Sorted. systemd-networkd is part of systemd; openssh-server and dnsmasq are
# for the parts of first boot that come next (SSH, a DHCP server in a router
# namespace), so the image does not change when they arrive.
packages=(
	ca-certificates
	curl
	dbus
	dnsmasq
	haproxy
	iproute2
	openssh-server
	procps
	systemd
	systemd-sysv
)
# What the image needs whatever the project does. dnsmasq is there to be run
# by a test in a router namespace, not inside the appliance.
# One line: mmdebstrap first tries a hook as a file name.
recipe='systemctl --root="$1" --quiet disable dnsmasq.service &&'
recipe+=' systemctl --root="$1" --quiet enable systemd-networkd.service &&'
recipe+=' mkdir -p "$1/var/log/journal" && rm -f "$1/etc/resolv.conf" "$1/etc/hostname"'

cache=${ANYIP_BOOT_CACHE:-/var/cache/anyip-boottest}

# The same Debian archive this machine installs its packages from: its
# deb822 sources when it has them, else its sources.list lines, else
# mmdebstrap's default. ANYIP_BOOT_SOURCES names another sources file.
sources=${ANYIP_BOOT_SOURCES:-}
if [[ -z $sources ]]; then
	if [[ -s /etc/apt/sources.list.d/debian.sources ]]; then
		sources=/etc/apt/sources.list.d/debian.sources
	elif [[ -s /etc/apt/sources.list ]] && grep -q '^deb ' /etc/apt/sources.list; then
		sources=/etc/apt/sources.list
	fi
fi
mirror=()
sources_text=default
if [[ -n $sources ]]; then
	mirror=("$sources")
	sources_text=$(cat "$sources")
fi

key=$(printf '%s\n' "$suite" "${packages[*]}" "$recipe" "$sources_text" | sha256sum | cut -c1-16)
tarball=$cache/$suite-$key.tar

if [[ ${1:-} == --key ]]; then
	echo "$tarball"
	exit 0
fi
if [[ -s $tarball ]]; then
	echo "$tarball"
	exit 0
fi

for c in mmdebstrap systemctl; do
	command -v "$c" >/dev/null || { echo "boot-image: $c not found; scripts/deps.sh installs it" >&2; exit 1; }
done
mkdir -p "$cache"
# One build at a time; a second caller waits and then finds the tarball.
exec 9>"$cache/.lock"
flock 9
if [[ ! -s $tarball ]]; then
	tmp=$tarball.tmp.$$
	trap 'rm -f "$tmp"' EXIT
	# Leftovers of builds that were killed.
	find "$cache" -maxdepth 1 -name "$suite-*.tar.tmp.*" -delete
	echo "boot-image: building $tarball (${packages[*]})" >&2
	start=$SECONDS
	mmdebstrap --quiet --variant=apt --format=tar \
		--include="$(IFS=,; echo "${packages[*]}")" \
		--customize-hook="$recipe" \
		"$suite" "$tmp" "${mirror[@]}" >&2
	mv -f "$tmp" "$tarball"
	trap - EXIT
	# Images of an older package list or recipe are never used again.
	find "$cache" -maxdepth 1 -name "$suite-*.tar" ! -path "$tarball" -delete
	echo "boot-image: built in $((SECONDS - start)) s, $(du -h "$tarball" | cut -f1)" >&2
fi
echo "$tarball"
