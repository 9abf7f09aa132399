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
# The appliance's NICs, by the names the image gives them (veth pairs
# here, each end in the namespace): what first boot writes for them goes
# under --root, never to this machine.
for nic in management workload frontend; do
	ip -n "$ns" link add "$nic" type veth peer name "peer-$nic"
	ip -n "$ns" link set "$nic" up
	ip -n "$ns" link set "peer-$nic" up
done
# The addresses networkd gives them from the wizard (it does not run here).
ip -n "$ns" addr add 10.40.10.5/24 dev management
ip -n "$ns" addr add 10.40.20.5/24 dev workload
ip -n "$ns" addr add 10.40.30.5/24 dev frontend
ip -n "$ns" route add default via 10.40.10.1
: >"$work/resolv.conf"
# The namespace's own run lock, not this machine's /run/anyip/lock.
export ANYIP_LOCK="$work/lock"
scripts/seed-root.sh "$work/root"
run() {
	ip netns exec "$ns" bin/anyip-firstboot --ovf-env "$env" --config "$work/anyip-routes.cfg" \
		--state-dir "$work/state" --resolv-conf "$work/resolv.conf" --root "$work/root" --publish=false "$@"
}
routes() {
	ip netns exec "$ns" bin/anyip-routes --config "$work/anyip-routes.cfg" --resolv-conf "$work/resolv.conf" "$@"
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
echo
echo "== a wizard range that holds the frontend gateway is refused; nothing of the ranges changes"
sed 's|10.40.30.64/26, 10.40.30.128/26|10.40.30.0/26, 10.40.30.128/26|' "$env" >"$work/bad-env.xml"
env="$work/bad-env.xml" run || echo "(exit status $?)"
echo
echo "== a hand edit tried before the service applies it: anyip-routes up --dry-run"
cp "$work/anyip-routes.cfg" "$work/anyip-routes.cfg.good"
echo "10.40.50.0-10.40.50.127" >>"$work/anyip-routes.cfg"
routes up --dry-run
echo "10.40.10.0/30" >>"$work/anyip-routes.cfg"
routes up --dry-run || echo "(exit status $?)"
cp "$work/anyip-routes.cfg.good" "$work/anyip-routes.cfg"
echo
echo "== anyip-routes check (here no systemd, HAProxy or networkd runs: the policy rules networkd would add are missing)"
routes check --haproxy-config= --network-dir "$work/root/etc/systemd/network" --state-dir "$work/state" || echo "(exit status $?)"
