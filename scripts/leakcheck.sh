#!/usr/bin/env bash
# Leak check for one test run, looking only at what that run made, so an
# operator's own server, OVS or namespaces (or another run's) never count.
#
#   leakcheck.sh begin RUN_DIR   before the tests: note the root namespace's links
#   leakcheck.sh check RUN_DIR   after the tests: fail if the run left anything
#
# RUN_DIR is the run's directory; the tests get it in NEUTRINO_TEST_RUN
# (scripts/test.sh). Every process they start inherits that variable, so a
# process whose environment holds it and still runs afterwards is a leak.
# lab.CreateNS appends each namespace name it makes to RUN_DIR/netns; one of
# those still in /run/netns is a leak. A link in the root namespace that was
# not there at `begin` is a leak (tests make links only inside namespaces).
set -uo pipefail
# This script's own processes must not carry the mark it looks for.
[ -n "${NEUTRINO_TEST_RUN:-}" ] && exec env -u NEUTRINO_TEST_RUN bash "$0" "$@"
cmd=${1:-} run=${2:-}
[ -n "$run" ] && [ -d "$run" ] || { echo "usage: $0 begin|check RUN_DIR (an existing directory)" >&2; exit 2; }

# The kernel itself adds fallback devices to every namespace when a tunnel
# module loads on first use (ip_gre: gre0 gretap0 erspan0; ipip: tunl0; ...):
# a test may cause that, but they are no leak and cannot be deleted.
links() {
  ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 |
    grep -vxE 'gre0|gretap0|erspan0|ip_vti0|ip6_vti0|sit0|ip6tnl0|ip6gre0|tunl0|ifb[0-9]+' | sort -u
}

case $cmd in
begin)
  links >"$run/links.before"
  exit 0 ;;
check) ;;
*) echo "usage: $0 begin|check RUN_DIR" >&2; exit 2 ;;
esac

bad=0
if [ -f "$run/netns" ]; then
  ns=$(sort -u "$run/netns" | while read -r n; do [ -e "/run/netns/$n" ] && printf '%s ' "$n"; done)
  [ -n "$ns" ] && { echo "leak: network namespaces left: $ns"; bad=1; }
fi

if [ -f "$run/links.before" ]; then
  new=$(links | comm -13 "$run/links.before" - | tr '\n' ' ')
  [ -n "$new" ] && { echo "leak: links left in the root namespace: $new"; bad=1; }
else
  echo "leakcheck: no $run/links.before (run \`$0 begin $run\` first)" >&2; bad=1
fi

procs=""
for f in $(grep -lzxF "NEUTRINO_TEST_RUN=$run" /proc/[0-9]*/environ 2>/dev/null); do
  pid=${f#/proc/}; pid=${pid%/environ}
  args=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue # exited meanwhile
  [ -n "$args" ] && procs="$procs $pid ($args);"
done
[ -n "$procs" ] && { echo "leak: processes of this run still running:$procs"; bad=1; }

[ $bad = 0 ] && echo "leakcheck: nothing left behind"
exit $bad
