#!/usr/bin/env bash
# make bench: the performance figures of DESIGN §11 (cmd/sobench), against a throwaway PostgreSQL
# and MinIO started here on free loopback ports unless SO_TEST_DATABASE_URL / SO_TEST_MINIO_* name
# servers to use. The Makefile has built bin/secondopinion. SO_BENCH_QUICK=1: sizes ÷ 8, a smoke run.
# SO_BENCH_ONLY=opens,audit (or upload, big, concurrent, page): only those items.
# PostgreSQL runs with fsync on, as in production: audit commits wait for the disk.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

command -v curl >/dev/null || so_apt_install curl
export PATH="$(so_gobin):$PATH"
so_minio_bin >/dev/null

tmp=$(mktemp -d /tmp/so-bench.XXXXXX)
chmod 755 "$tmp"
trap 'so_throwaway_stop "$tmp"' EXIT
so_throwaway_services "$tmp"
# sobench reports the CPU time of the servers it can name.
[ -f "$tmp/started-pg" ] && export SO_BENCH_POSTMASTER_PID=$(head -n 1 "$tmp/pg/postmaster.pid")
[ -f "$tmp/started-minio" ] && export SO_BENCH_MINIO_PID=$(cat "$tmp/minio.pid")

so_log "building bin/sobench"
go build -trimpath -o bin/sobench ./cmd/sobench
mkdir -p "$tmp/work"
bin/sobench -bin bin/secondopinion -work "$tmp/work" -repo . ${SO_BENCH_ONLY:+-only "$SO_BENCH_ONLY"}
