#!/usr/bin/env bash
# make test: go vet and the whole test suite (with -race) against a real PostgreSQL and a real MinIO,
# started here on free loopback ports unless SO_TEST_DATABASE_URL / SO_TEST_MINIO_* name servers to use.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

command -v curl >/dev/null || so_apt_install curl
# The subject-access export's tests open its ZIP with Debian's unzip.
command -v unzip >/dev/null || so_apt_install unzip
export PATH="$(so_gobin):$PATH"
so_age_cli >/dev/null
so_minio_bin >/dev/null
so_ui_bundle
so_page_test_tools

tmp=$(mktemp -d /tmp/so-test.XXXXXX)
chmod 755 "$tmp"
trap 'so_throwaway_stop "$tmp"' EXIT
SO_PG_FSYNC=off so_throwaway_services "$tmp"

so_log "go vet"
go vet ./...
so_log "staticcheck"
"$(so_staticcheck)" ./...
# gosec: every finding it keeps is fixed or carries `#nosec RULE -- reason` where it stands.
so_log "gosec"
"$(so_gosec)" -quiet ./...
so_log "go test -race"
go test -race -count=1 -timeout 30m ./...
# Tests that reach a data race inside tusd v2.10.0 itself (see upload/locker_tusd_norace_test.go)
# are built without -race and run here, so that nothing is left unrun.
so_log "go test (tests excluded from -race builds)"
go test -count=1 -timeout 10m -run 'TestLockerTusdRacingPatches' ./upload/
