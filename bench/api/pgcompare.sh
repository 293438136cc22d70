#!/bin/sh
# Port create on PostgreSQL, this tree against an earlier one, alternated
# (before, after, after with unbounded writers, ...) so that all see the
# same load: the issue 18 measurement of docs/BENCHMARKS.md ("Port create
# at 32 clients: the probe and the writers' bound").
#
#	sh bench/api/pgcompare.sh [before-rev] [rounds]
#
# before-rev defaults to be8caa5 (main before that change); rounds to 3.
# Needs NEUTRINO_TEST_POSTGRES (source /work/sessiondb/env.sh).
set -eu
before=${1:-be8caa5}
rounds=${2:-3}
top=$(git rev-parse --show-toplevel)
out=$(mktemp -d /tmp/pgcompare.XXXXXX)
trap 'rm -rf "$out"' EXIT
git -C "$top" archive "$before" | tar -x -C "$out" --one-top-level=src
(cd "$out/src" && go build -o "$out/api-before" ./bench/api)
(cd "$top" && go build -o "$out/api-after" ./bench/api)
for i in $(seq "$rounds"); do
	for v in before after after-unbounded; do
		bin=$out/api-$v extra=""
		if [ "$v" = after-unbounded ]; then bin=$out/api-after extra="-pg-writers 0"; fi
		echo "== $v, round $i"
		# shellcheck disable=SC2086
		"$bin" -db postgres -ports 1500 -list 0 -levels 1,8,32,32 $extra | grep '^| [0-9]\|^start:\|^write trans'
	done
done
