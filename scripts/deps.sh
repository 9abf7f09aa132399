#!/usr/bin/env bash
# Installs what building and testing need on a Debian machine, skipping
# what is already there so a warm machine pays nothing.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have ip             || need+=(iproute2)
have haproxy        || need+=(haproxy)
have xorriso        || need+=(xorriso)
have inotifywait    || need+=(inotify-tools)
have systemd-analyze || need+=(systemd)
have curl           || need+=(curl)
# sshd -T shows what first boot's sshd drop-in does (internal/firstboot).
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -x /usr/bin/time ] || need+=(time)
have prlimit        || need+=(util-linux)
# The boot test: an image built from Debian packages, booted in a container.
have mmdebstrap     || need+=(mmdebstrap)
have systemd-nspawn || need+=(systemd-container)
# Its DHCP server, run in the routers' namespace (the binary only: no service).
have dnsmasq        || need+=(dnsmasq-base)

if ((${#need[@]})); then
	echo "deps: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! have go; then
	echo "deps: Go 1.26 or newer is needed (https://go.dev/doc/install); put it on PATH and run again" >&2
	exit 1
fi
v=$(go env GOVERSION) # go1.26.8
minor=$(echo "${v#go1.}" | cut -d. -f1)
if [[ $v != go1.* || ${minor:-0} -lt 26 ]]; then
	echo "deps: found $v; Go 1.26 or newer is needed (https://go.dev/doc/install)" >&2
	exit 1
fi
# A distribution's haproxy package starts the service; tests start their own.
# (openssh-server's sshd is left as the package leaves it: tests only run sshd -T.)
if have systemctl && systemctl is-active --quiet haproxy 2>/dev/null; then
	systemctl stop haproxy || true
fi
