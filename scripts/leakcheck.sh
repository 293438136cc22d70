#!/usr/bin/env bash
# Leak check for one test run, looking only at what that run made, so an
# operator's own server, OVS or namespaces (or another run's) never count.
#
#   leakcheck.sh begin RUN_DIR   before the tests: note the root namespace's links
#   leakcheck.sh check RUN_DIR   after the tests: fail if the run left anything
#   leakcheck.sh reap            remove what killed runs left: for each
#                                /tmp/neutrino-run.* whose scripts/test.sh
#                                (RUN_DIR/owner) is gone, end its processes
#                                (by PID) and delete its namespaces
#
# RUN_DIR is the run's directory; the tests get it in NEUTRINO_TEST_RUN
# (scripts/test.sh). Every process they start inherits that variable, so a
# process whose environment holds it and still runs afterwards is a leak.
# lab.CreateNS appends each namespace name it makes to RUN_DIR/netns; one of
# those still in /run/netns is a leak. A link in the root namespace that was
# not there at `begin` is a leak (tests make links only inside namespaces), and
# so is an nftables table in the root namespace (the firewalls' tests program
# nftables only inside their node namespaces).
set -uo pipefail
# This script's own processes must not carry the mark it looks for.
[ -n "${NEUTRINO_TEST_RUN:-}" ] && exec env -u NEUTRINO_TEST_RUN bash "$0" "$@"
cmd=${1:-} run=${2:-}
usage() { echo "usage: $0 begin|check RUN_DIR (an existing directory), or $0 reap" >&2; exit 2; }
[ "$cmd" = reap ] || { [ -n "$run" ] && [ -d "$run" ]; } || usage

# procs RUN: the PIDs of running processes carrying RUN's mark.
procs() {
  local f pid
  for f in $(grep -lzxF "NEUTRINO_TEST_RUN=$1" /proc/[0-9]*/environ 2>/dev/null); do
    pid=${f#/proc/}; pid=${pid%/environ}
    [ -n "$(tr -d '\0' 2>/dev/null <"/proc/$pid/cmdline")" ] && echo "$pid" # not a zombie, still there
  done
}

# namespaces RUN: the namespaces RUN recorded that still exist.
namespaces() {
  [ -f "$1/netns" ] || return 0
  sort -u "$1/netns" | while read -r n; do [ -e "/run/netns/$n" ] && echo "$n"; done
}

# The kernel itself adds fallback devices to every namespace when a tunnel
# module loads on first use (ip_gre: gre0 gretap0 erspan0; ipip: tunl0; ...):
# a test may cause that, but they are no leak and cannot be deleted.
links() {
  ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 |
    grep -vxE 'gre0|gretap0|erspan0|ip_vti0|ip6_vti0|sit0|ip6tnl0|ip6gre0|tunl0|ifb[0-9]+' | sort -u
}

# nft_tables: the root namespace's nftables tables ("table <family> <name>").
nft_tables() {
  command -v nft >/dev/null || return 0
  nft list tables 2>/dev/null | sort -u
}

case $cmd in
begin)
  links >"$run/links.before"
  nft_tables >"$run/nft.before"
  exit 0 ;;
reap)
  for d in /tmp/neutrino-run.*; do
    [ -f "$d/owner" ] || continue
    owner=$(cat "$d/owner")
    tr '\0' ' ' 2>/dev/null <"/proc/$owner/cmdline" | grep -q 'scripts/test.sh' && continue # still running
    pids=$(procs "$d")
    if [ -n "$pids" ]; then
      echo "leakcheck: ending what the killed run $d left running: $pids" >&2
      kill $pids 2>/dev/null
      for _ in $(seq 20); do [ -z "$(procs "$d")" ] && break; sleep 0.5; done
      pids=$(procs "$d"); [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    fi
    for n in $(namespaces "$d"); do
      echo "leakcheck: deleting namespace $n left by the killed run $d" >&2
      ip netns del "$n"
    done
    rm -rf "$d"
  done
  exit 0 ;;
check) ;;
*) usage ;;
esac

bad=0
ns=$(namespaces "$run" | tr '\n' ' ')
[ -n "$ns" ] && { echo "leak: network namespaces left: $ns"; bad=1; }

if [ -f "$run/links.before" ]; then
  new=$(links | comm -13 "$run/links.before" - | tr '\n' ' ')
  [ -n "$new" ] && { echo "leak: links left in the root namespace: $new"; bad=1; }
else
  echo "leakcheck: no $run/links.before (run \`$0 begin $run\` first)" >&2; bad=1
fi

if [ -f "$run/nft.before" ]; then
  new=$(nft_tables | comm -13 "$run/nft.before" - | sed 's/^table //' | tr '\n' ' ')
  [ -n "$new" ] && { echo "leak: nftables tables left in the root namespace: $new"; bad=1; }
fi

left=""
for pid in $(procs "$run"); do
  args=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") && left="$left $pid ($args);"
done
[ -n "$left" ] && { echo "leak: processes of this run still running:$left"; bad=1; }

[ $bad = 0 ] && echo "leakcheck: nothing left behind"
exit $bad
