#!/usr/bin/env bash
# make bench: the performance figures of DESIGN §11 (cmd/sobench), against a throwaway PostgreSQL
# and MinIO started here on free loopback ports unless SO_TEST_DATABASE_URL / SO_TEST_MINIO_* name
# servers to use. The Makefile has built bin/secondopinion. SO_BENCH_QUICK=1: sizes ÷ 8, a smoke run.
# PostgreSQL runs with fsync on, as in production: audit commits wait for the disk.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

command -v curl >/dev/null || so_apt_install curl
export PATH="$(so_gobin):$PATH"
so_minio_bin >/dev/null

tmp=$(mktemp -d /tmp/so-bench.XXXXXX)
chmod 755 "$tmp"
cleanup() {
	[ -n "${started_pg:-}" ] && so_pg_stop "$tmp/pg"
	if [ -n "${started_minio:-}" ]; then
		local pid
		pid=$(cat "$tmp/minio.pid")
		so_minio_stop "$tmp/minio.pid"
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

if [ -z "${SO_TEST_DATABASE_URL:-}" ]; then
	port=$(so_free_port)
	so_log "starting a throwaway PostgreSQL on 127.0.0.1:$port"
	so_pg_init "$tmp/pg" trust
	started_pg=1
	so_pg_start "$tmp/pg" "$port"
	export SO_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	export SO_BENCH_POSTMASTER_PID=$(head -n 1 "$tmp/pg/postmaster.pid") # to report PostgreSQL's CPU time
fi
if [ -z "${SO_TEST_MINIO_ENDPOINT:-}" ]; then
	port=$(so_free_port)
	so_log "starting a throwaway MinIO on 127.0.0.1:$port"
	export SO_TEST_MINIO_ENDPOINT="127.0.0.1:$port" SO_TEST_MINIO_ACCESS_KEY=benchadmin SO_TEST_MINIO_SECRET_KEY="$(so_random)"
	started_minio=1
	so_minio_start "$tmp/minio" "$port" "$SO_TEST_MINIO_ACCESS_KEY" "$SO_TEST_MINIO_SECRET_KEY" "$tmp/minio.pid"
	export SO_BENCH_MINIO_PID=$(cat "$tmp/minio.pid")
fi

so_log "building bin/sobench"
go build -trimpath -o bin/sobench ./cmd/sobench
mkdir -p "$tmp/work"
bin/sobench -bin bin/secondopinion -work "$tmp/work" -repo .
