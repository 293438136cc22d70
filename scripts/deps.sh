#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests use, when missing.
# Services are not started by the packages (policy-rc.d): our scripts start
# what they need on 127.0.0.1 and stop it again.
set -euo pipefail
# kmod: the kernel loads veth, bridge, vxlan and openvswitch on first use
# through modprobe, which a minimal Debian may lack. util-linux: flock,
# mountpoint (.ci/run). keystone, uwsgi, curl: the real Keystone (scripts/keystone.sh;
# curl waits for it to answer).
# chromium: the /ui tests drive the page headless. dnsmasq-base: the DHCP
# agent's server; busybox: udhcpc, the DHCP client lab VMs run (as cirros);
# isc-dhcp-client: dhclient -6, the DHCPv6 client of the IPv6 DHCP tests.
# nftables: `nft`, with which the firewall tests and the demo read back what
# the agents programmed (the agents themselves talk netlink).
PKGS="openvswitch-switch postgresql mariadb-server iproute2 iputils-ping iputils-arping
 tcpdump iperf3 python3-openstackclient procps psmisc ethtool kmod util-linux
 keystone uwsgi-core uwsgi-plugin-python3 curl chromium dnsmasq-base busybox isc-dhcp-client nftables"
missing=""
for p in $PKGS; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
[ "$(id -u)" = 0 ] || { echo "deps: need root to install:$missing" >&2; exit 1; }
echo "deps: installing$missing"
created=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; created=1
fi
trap '[ $created = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing
