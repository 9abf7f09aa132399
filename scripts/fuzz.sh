#!/usr/bin/env bash
# Runs every Go fuzz target in the repository for a bounded time each
# (FUZZTIME, default 10s). A crashing input is a failure and is kept in the
# package's testdata/fuzz for the regression run. A fuzzing engine hiccup
# with no crasher (a worker that hung on a busy machine) is retried once,
# so CI reports findings, not noise.
set -uo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-10s}
go=${GO:-go}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

for pkg in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$pkg"/*_test.go | cut -c6-); do
		for try in 1 2; do
			before=$(ls "$pkg/testdata/fuzz/$target" 2>/dev/null | wc -l)
			if $go test -run='^$' -fuzz="^$target\$" -fuzztime="$fuzztime" "$pkg" >"$log" 2>&1; then
				echo "fuzz $pkg $target ($fuzztime): ok"
				break
			fi
			after=$(ls "$pkg/testdata/fuzz/$target" 2>/dev/null | wc -l)
			if [ "$after" -gt "$before" ] || [ "$try" -eq 2 ]; then
				echo "fuzz $pkg $target: FAILED"
				grep -v '^fuzz: elapsed' "$log" | tail -n 40
				status=1
				break
			fi
			echo "fuzz $pkg $target: engine error without a crasher; retrying once:"
			grep -v '^fuzz: elapsed' "$log" | tail -n 5
		done
	done
done
exit $status
