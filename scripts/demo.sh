#!/usr/bin/env bash
# Runs first boot on a shipped example environment the way the appliance
# does, but inside a throw-away network namespace and temp directory, so it
# never touches this machine's routes or /etc/vmware. Then shows what it
# wrote and the routes it installed, runs it again (a no-op), and removes
# everything. Needs root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

env=${1:-examples/ovf-env-3nic.xml}
ns=anyip-demo-$$
work=$(mktemp -d)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

ip netns add "$ns"
ip -n "$ns" link set lo up
: >"$work/resolv.conf"
# The namespace's own run lock, not this machine's /run/anyip/lock.
export ANYIP_LOCK="$work/lock"
run() {
	ip netns exec "$ns" bin/anyip-firstboot --ovf-env "$env" --config "$work/anyip-routes.cfg" \
		--state-dir "$work/state" --resolv-conf "$work/resolv.conf" --root "$work/root" "$@"
}

echo "== anyip-firstboot --ovf-env $env"
run
echo
echo "== $work/anyip-routes.cfg"
cat "$work/anyip-routes.cfg"
echo
echo "== ip route show table local proto 241 (our routes)"
ip -n "$ns" route show table local proto 241
ip -n "$ns" -6 route show table local proto 241
echo
echo "== state record"
cat "$work/state/firstboot.yaml"
echo
echo "== second run (same properties)"
run
