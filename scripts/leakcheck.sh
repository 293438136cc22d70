#!/usr/bin/env bash
# Fails when the tests left a network namespace, a link in the root
# namespace, or an OVS/neutrino process behind.
bad=0
ns=$(ip netns list 2>/dev/null | awk '{print $1}' | tr '\n' ' ')
[ -n "$ns" ] && { echo "leak: network namespaces left: $ns"; bad=1; }
links=$(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -vE '^(lo|eth[0-9]+|ifb[0-9]+)$' | tr '\n' ' ')
[ -n "$links" ] && { echo "leak: links left in the root namespace: $links"; bad=1; }
procs=$(for n in ovs-vswitchd ovsdb-server neutrino iperf3 tcpdump; do pgrep -a -x "$n"; done 2>/dev/null | tr '\n' ';')
[ -n "$procs" ] && { echo "leak: processes left: $procs"; bad=1; }
[ $bad = 0 ] && echo "leakcheck: nothing left behind"
exit $bad
