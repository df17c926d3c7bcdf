#!/usr/bin/env bash
# make test: go vet and the whole test suite (with -race) against a real PostgreSQL and a real MinIO,
# started here on free loopback ports unless SO_TEST_DATABASE_URL / SO_TEST_MINIO_* name servers to use.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

command -v curl >/dev/null || so_apt_install curl
export PATH="$(so_gobin):$PATH"
so_age_cli >/dev/null
so_minio_bin >/dev/null
so_node_deps

tmp=$(mktemp -d /tmp/so-test.XXXXXX)
chmod 755 "$tmp"
cleanup() {
	[ -n "${started_pg:-}" ] && so_pg_stop "$tmp/pg"
	[ -n "${started_minio:-}" ] && so_minio_stop "$tmp/minio.pid"
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ -z "${SO_TEST_DATABASE_URL:-}" ]; then
	port=$(so_free_port)
	so_log "starting a throwaway PostgreSQL on 127.0.0.1:$port"
	SO_PG_FSYNC=off so_pg_init "$tmp/pg" trust
	started_pg=1
	SO_PG_FSYNC=off so_pg_start "$tmp/pg" "$port"
	export SO_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
fi
if [ -z "${SO_TEST_MINIO_ENDPOINT:-}" ]; then
	port=$(so_free_port)
	so_log "starting a throwaway MinIO on 127.0.0.1:$port"
	export SO_TEST_MINIO_ENDPOINT="127.0.0.1:$port" SO_TEST_MINIO_ACCESS_KEY=testadmin SO_TEST_MINIO_SECRET_KEY="$(so_random)"
	started_minio=1
	so_minio_start "$tmp/minio" "$port" "$SO_TEST_MINIO_ACCESS_KEY" "$SO_TEST_MINIO_SECRET_KEY" "$tmp/minio.pid"
fi

so_log "go vet"
go vet ./...
so_log "go test -race"
go test -race -count=1 -timeout 30m ./...
# Tests that reach a data race inside tusd v2.10.0 itself (see upload/locker_tusd_norace_test.go)
# are built without -race and run here, so that nothing is left unrun.
so_log "go test (tests excluded from -race builds)"
go test -count=1 -timeout 10m -run 'TestLockerTusdRacingPatches' ./upload/
