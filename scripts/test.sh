#!/usr/bin/env bash
# `make test`: installs what the tests need, starts PostgreSQL and MariaDB on
# 127.0.0.1, runs go vet and every test, stops what it started, and checks
# that no namespace, link or daemon was left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "make test needs root (network namespaces, Open vSwitch, package installs)" >&2; exit 1; }
bash scripts/deps.sh
go mod download
dbdir=$(mktemp -d /tmp/neutrino-testdb.XXXXXX)
trap 'bash scripts/testdb.sh stop "$dbdir"; rm -rf "$dbdir"' EXIT
eval "$(bash scripts/testdb.sh start "$dbdir")"
export NEUTRINO_TEST_POSTGRES NEUTRINO_TEST_MYSQL
go vet ./...
# The leak check runs whatever the tests said, so errexit is off here.
set +e
go test -count=1 -timeout 30m ${TESTFLAGS:-} ./... 2>&1 | tee /tmp/neutrino-test.log
status=${PIPESTATUS[0]}
bash scripts/leakcheck.sh || status=1
set -e
exit "$status"
