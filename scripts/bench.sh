#!/usr/bin/env bash
# Times `anyip-routes up` (the built binary) against the two baselines of
# issue 3, on /28 ranges, each run in a fresh network namespace:
#
#   - the old appliance's shell loop: per range, grep `ip route show table
#     local` and fork `ip route add` when it is missing;
#   - `ip -batch` adding the same routes: one netlink request and one ack
#     at a time, the practical limit of the shell tools;
#   - and `up` on a table already in sync (the common case at boot and on
#     every edit), against ip -batch.
#
# Every contender runs under `ip netns exec`, so each pays the same
# start-up cost. Each time is the median of RUNS runs (SHELL_RUNS for the
# slow shell loop). The shell loop at 10,000 ranges runs once, for at most
# SHELL_10K_BUDGET seconds; if it does not finish, its time is
# extrapolated from its progress and labelled so (a lower bound: the loop
# slows down as the table grows).
#
# Then the figures of the proof-at-scale work: validation of 100,000 ranges
# against 10,000 observed addresses (target: well under a second), and a
# first boot of the shipped 3-NIC example: in process (Go benchmark) and as
# the binary, with its peak memory (max RSS from time(1)).
#
# Needs root (network namespaces) and bin/ (`make build`).
# Removes its namespaces and files on exit; never touches this machine's
# own routing tables.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

BIN=${BIN:-bin/anyip-routes}
FIRSTBOOT=${FIRSTBOOT:-bin/anyip-firstboot}
GO=${GO:-go}
RUNS=${RUNS:-5}
SHELL_RUNS=${SHELL_RUNS:-3}
SHELL_10K_BUDGET=${SHELL_10K_BUDGET:-60}
BENCH_STRICT=${BENCH_STRICT:-0} # 1: exit 1 when a target is missed

if [[ ! -x $BIN ]]; then
	echo "bench: $BIN not found; run make build first" >&2
	exit 1
fi
if [[ $(id -u) != 0 ]]; then
	echo "bench: needs root to create network namespaces" >&2
	exit 1
fi
BIN=$(realpath "$BIN")
FIRSTBOOT=$(realpath "$FIRSTBOOT")

work=$(mktemp -d)
# The run lock of the commands timed: in the work directory, not this
# machine's /run/anyip/lock.
export ANYIP_LOCK="$work/lock"
seq=0
NS=
cleanup() {
	if [[ -n $NS ]]; then ip netns del "$NS" 2>/dev/null || true; fi
	# Namespaces of this run left by an interruption.
	for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^anyip-bench-$$-" || true); do
		ip netns del "$n" 2>/dev/null || true
	done
	rm -rf "$work"
}
# Long commands run in the background and are waited for, so that a
# signal is handled at once (bash defers traps while a foreground command
# runs): the command is stopped, then cleanup runs.
CHILD=
on_signal() {
	if [[ -n $CHILD ]]; then kill -TERM "$CHILD" 2>/dev/null || true; fi
	exit 130
}
trap cleanup EXIT
trap on_signal INT TERM HUP

# run_bg CMD...: runs CMD and waits for it; returns its exit status.
run_bg() {
	"$@" &
	CHILD=$!
	local rc=0
	wait "$CHILD" || rc=$?
	CHILD=
	return "$rc"
}

# fresh_ns sets NS to a new namespace with lo up; drop_ns removes it.
fresh_ns() {
	seq=$((seq + 1))
	NS=anyip-bench-$$-$seq
	ip netns add "$NS"
	ip -n "$NS" link set lo up
}
drop_ns() {
	ip netns del "$NS"
	NS=
}

# Inputs: N /28 ranges from 10.64.0.0 up, as a ranges file and an ip batch.
: >"$work/resolv.conf" # no name servers: the host's must not matter
gen() {
	local n=$1
	awk -v n="$n" 'BEGIN {
		for (i = 0; i < n; i++) {
			a = 10 * 16777216 + 64 * 65536 + 16 * i
			printf "%d.%d.%d.%d/28\n", int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256
		}
	}' >"$work/ranges-$n.cfg"
	sed 's|.*|route add local & dev lo table local|' "$work/ranges-$n.cfg" >"$work/batch-$n"
}
gen 1000
gen 10000

# The old appliance's loop, one fork of ip (and grep) after another.
cat >"$work/shell-loop.sh" <<'LOOP'
while IFS= read -r range; do
	[ -z "$range" ] && continue
	[ "${range:0:1}" = "#" ] && continue
	ip route show table local | grep -q "$range" || ip route add local $range dev lo
done <"$1"
LOOP

# measure CMD...: runs CMD in $NS and sets US to its wall time in µs.
measure() {
	local t0 t1
	t0=${EPOCHREALTIME/./}
	run_bg ip netns exec "$NS" "$@" >/dev/null
	t1=${EPOCHREALTIME/./}
	US=$((t1 - t0))
}

# count: the local /28 routes on lo in $NS (checks each run did the work).
count() {
	ip -n "$NS" route show table local | grep -c '/28 dev lo' || true
}

check() {
	local want=$1 what=$2 got
	got=$(count)
	if [[ $got != "$want" ]]; then
		echo "bench: $what left $got routes, want $want" >&2
		exit 1
	fi
}

median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }


declare -A T # name -> median µs
declare -A NOTE

# bench_fresh KEY N RUNS CMD...: CMD in a fresh namespace RUNS times, each
# checked to leave N routes; T[KEY] is the median.
bench_fresh() {
	local key=$1 n=$2 runs=$3 s=()
	shift 3
	for _ in $(seq "$runs"); do
		fresh_ns
		measure "$@"
		check "$n" "$key"
		s+=("$US")
		drop_ns
	done
	T[$key]=$(median "${s[@]}")
}

bench_up() { bench_fresh "up-$1" "$1" "$RUNS" "$BIN" --config "$work/ranges-$1.cfg" --resolv-conf "$work/resolv.conf" up; }
bench_batch() { bench_fresh "batch-$1" "$1" "$RUNS" ip -batch "$work/batch-$1"; }
bench_shell() { bench_fresh "shell-$1" "$1" "$2" bash "$work/shell-loop.sh" "$work/ranges-$1.cfg"; }

bench_insync() {
	local n=$1 s=()
	fresh_ns
	ip netns exec "$NS" "$BIN" --config "$work/ranges-$n.cfg" --resolv-conf "$work/resolv.conf" up >/dev/null
	for _ in $(seq "$RUNS"); do
		measure "$BIN" --config "$work/ranges-$n.cfg" --resolv-conf "$work/resolv.conf" up
		check "$n" "up in sync $n"
		s+=("$US")
	done
	drop_ns
	T[insync-$n]=$(median "${s[@]}")
}

# bench_shell_bounded: one run, stopped after the budget and extrapolated.
bench_shell_bounded() {
	local n=$1 budget=$2 t0 t1 rc=0 done_
	fresh_ns
	t0=${EPOCHREALTIME/./}
	run_bg timeout --kill-after=5 "$budget" ip netns exec "$NS" bash "$work/shell-loop.sh" "$work/ranges-$n.cfg" >/dev/null 2>&1 || rc=$?
	t1=${EPOCHREALTIME/./}
	done_=$(count)
	drop_ns
	if [[ $rc == 0 ]]; then
		T[shell-$n]=$((t1 - t0))
		NOTE[shell-$n]="measured once"
	elif [[ $rc == 124 ]] && ((done_ > 0)); then
		T[shell-$n]=$(((t1 - t0) * n / done_))
		NOTE[shell-$n]="EXTRAPOLATED lower bound: $done_ of $n ranges in ${budget}s"
	else
		echo "bench: shell loop $n failed (exit $rc)" >&2
		exit 1
	fi
}

echo "bench: $BIN; /28 ranges; median of $RUNS runs (shell loop: $SHELL_RUNS) in fresh namespaces" >&2
echo "bench: up 1,000 / 10,000 ..." >&2
bench_up 1000
bench_up 10000
echo "bench: ip -batch 1,000 / 10,000 ..." >&2
bench_batch 1000
bench_batch 10000
echo "bench: up on a table in sync, 10,000 ..." >&2
bench_insync 10000
echo "bench: shell loop 1,000 (x$SHELL_RUNS) ..." >&2
bench_shell 1000 "$SHELL_RUNS"
echo "bench: shell loop 10,000 (at most ${SHELL_10K_BUDGET}s) ..." >&2
bench_shell_bounded 10000 "$SHELL_10K_BUDGET"

# gobench PKG NAME: ns/op of one Go benchmark (sub-benchmark names allowed).
gobench() {
	local out
	out=$(run_bg "$GO" test -run='^$' -bench="$2" -benchtime="${3:-20x}" -count=1 "$1" 2>&1) || {
		echo "$out" >&2
		exit 1
	}
	awk -v name="$2" '$1 ~ "^Benchmark" && $4 == "ns/op" { sub(/-[0-9]+$/, "", $1); if ($1 == "Benchmark" name) print $3 }' <<<"$out" | head -n1
}

# firstboot_run: the binary on the 3-NIC example in a fresh namespace;
# sets US (wall time) and KB (max RSS).
firstboot_run() {
	local d=$work/fb-$seq t0 t1
	mkdir -p "$d"
	scripts/seed-root.sh "$d/root"
	fresh_ns
	t0=${EPOCHREALTIME/./}
	run_bg ip netns exec "$NS" /usr/bin/time -f '%M' -o "$d/rss" "$FIRSTBOOT" --ovf-env examples/ovf-env-3nic.xml \
		--config "$d/anyip-routes.cfg" --state-dir "$d/state" --resolv-conf "$work/resolv.conf" --root "$d/root" --publish=false >/dev/null 2>&1
	t1=${EPOCHREALTIME/./}
	US=$((t1 - t0))
	KB=$(tail -n1 "$d/rss")
	drop_ns
}

echo "bench: validation of 100,000 ranges + 10,000 observed addresses ..." >&2
T[validate]=$(($(gobench ./internal/validate Ranges 20x) / 1000))
echo "bench: first boot, 3-NIC example (in process, and the binary) ..." >&2
T[fb-first]=$(($(gobench ./cmd/anyip-firstboot Firstboot/first 100x) / 1000))
T[fb-unchanged]=$(($(gobench ./cmd/anyip-firstboot Firstboot/unchanged 100x) / 1000))
fb=() rss=()
for _ in $(seq "$RUNS"); do
	firstboot_run
	fb+=("$US")
	rss+=("$KB")
done
T[fb-bin]=$(median "${fb[@]}")
RSS=$(median "${rss[@]}")
rss_up=()
for _ in $(seq "$RUNS"); do
	fresh_ns
	ip netns exec "$NS" /usr/bin/time -f '%M' -o "$work/rss-up" "$BIN" --config "$work/ranges-10000.cfg" --resolv-conf "$work/resolv.conf" up >/dev/null 2>&1
	rss_up+=("$(tail -n1 "$work/rss-up")")
	drop_ns
done
RSS_UP=$(median "${rss_up[@]}")

fmt() { # µs -> human
	awk -v us="$1" 'BEGIN {
		if (us >= 10000000) printf "%.1f s", us / 1e6
		else if (us >= 1000000) printf "%.2f s", us / 1e6
		else if (us >= 10000) printf "%.0f ms", us / 1e3
		else printf "%.1f ms", us / 1e3
	}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; if (r >= 100) printf "%.0f", r; else if (r >= 10) printf "%.1f", r; else printf "%.2f", r }'; }
# verdict VALUE OP LIMIT
verdict() {
	if awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { exit !((op == "<=" && v <= l) || (op == "<" && v < l) || (op == ">=" && v >= l)) }'; then
		echo ok
	else
		echo MISSED
		missed=1
	fi
}
missed=0

echo
echo "Times (wall clock, including ip netns exec)"
printf '  %-40s %12s\n' \
	"anyip-routes up, 1,000 ranges" "$(fmt "${T[up-1000]}")" \
	"ip -batch, 1,000 ranges" "$(fmt "${T[batch-1000]}")" \
	"shell loop, 1,000 ranges" "$(fmt "${T[shell-1000]}")" \
	"anyip-routes up, 10,000 ranges" "$(fmt "${T[up-10000]}")" \
	"ip -batch, 10,000 ranges" "$(fmt "${T[batch-10000]}")" \
	"anyip-routes up, 10,000 ranges in sync" "$(fmt "${T[insync-10000]}")"
printf '  %-40s %12s  (%s)\n' "shell loop, 10,000 ranges" "$(fmt "${T[shell-10000]}")" "${NOTE[shell-10000]}"

r1=$(ratio "${T[up-10000]}" "${T[batch-10000]}")
r2=$(ratio "${T[shell-1000]}" "${T[up-1000]}")
r3=$(ratio "${T[insync-10000]}" "${T[batch-10000]}")
r4=$(ratio "${T[up-1000]}" "${T[batch-1000]}")
r5=$(ratio "${T[shell-10000]}" "${T[up-10000]}")
v1=$(verdict "$r1" "<=" 1.5)
v2=$(verdict "$r2" ">=" 100)
v3=$(verdict "$r3" "<" 0.5)

echo
echo "Ratios"
printf '  %-44s %9s   %-10s %s\n' \
	"up 10k / ip -batch 10k" "${r1}x" "<= 1.5x" "$v1" \
	"shell loop 1k / up 1k" "${r2}x" ">= 100x" "$v2" \
	"up in sync 10k / ip -batch 10k" "${r3}x" "< 0.5x" "$v3" \
	"up 1k / ip -batch 1k" "${r4}x" "-" "" \
	"shell loop 10k / up 10k" "${r5}x" "-" "${NOTE[shell-10000]%%:*}"
r6=$(ratio "${T[validate]}" 1000000)
v6=$(verdict "$r6" "<" 1)
echo
echo "Scale"
printf '  %-44s %9s   %-10s %s\n' \
	"validate 100k ranges + 10k addresses" "$(fmt "${T[validate]}")" "" "" \
	"  as a share of the 1 s budget" "${r6}x" "< 1x" "$v6"
printf '  %-44s %9s\n' \
	"first boot, 3-NIC, in process (new VM)" "$(fmt "${T[fb-first]}")" \
	"first boot, 3-NIC, in process (unchanged)" "$(fmt "${T[fb-unchanged]}")" \
	"first boot, 3-NIC, binary incl. exec" "$(fmt "${T[fb-bin]}")" \
	"first boot peak memory (max RSS)" "$((RSS / 1024)) MiB" \
	"anyip-routes up 10k peak memory (max RSS)" "$((RSS_UP / 1024)) MiB"
echo
echo "In words: up 10k: $(fmt "${T[up-10000]}"); ip -batch 10k: $(fmt "${T[batch-10000]}"); ratio ${r1}x (target <= 1.5x)." \
	"1k: shell loop / up = ${r2}x (target >= 100x). In-sync 10k / ip -batch 10k = ${r3} (target < 0.5)."
if ((missed)) && [[ $BENCH_STRICT == 1 ]]; then
	exit 1
fi
