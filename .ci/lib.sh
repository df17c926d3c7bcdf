# Shared shell functions for `make run`, `make test` and `make bench`: find or install PostgreSQL,
# MinIO and the age CLI, and start or stop them on loopback. Sourced, not run.
# shellcheck shell=bash

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
AGE_VERSION=v1.3.2
STATICCHECK_VERSION=v0.8.2
GOSEC_VERSION=v2.30.0

so_log() { printf '==> %s\n' "$*" >&2; }
so_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# so_as_root CMD...: run as root (directly, or through sudo).
so_as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
		so_die "need root or sudo to run: $*"; fi
}

SO_APT_UPDATED=
so_apt_install() {
	command -v apt-get >/dev/null || so_die "cannot install $* : no apt-get on this machine; install it by hand"
	if [ -z "$SO_APT_UPDATED" ]; then
		so_log "apt-get update"
		so_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || so_die "apt-get update failed"
		SO_APT_UPDATED=1
	fi
	so_log "installing $*"
	so_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || so_die "apt-get install $* failed"
}

so_gobin() { echo "$(go env GOPATH)/bin"; }

# so_pg_bindir: the directory holding initdb and pg_ctl, installing PostgreSQL if missing.
so_pg_bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
		so_apt_install postgresql postgresql-client
		d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	fi
	[ -x "$d/initdb" ] || so_die "PostgreSQL binaries not found after installing"
	command -v psql >/dev/null || so_apt_install postgresql-client
	echo "$d"
}

# so_minio_bin: the MinIO server binary, built once with `go install` at a pinned version.
so_minio_bin() {
	local b
	b=$(command -v minio 2>/dev/null || true)
	[ -n "$b" ] || b="$(so_gobin)/minio"
	if [ ! -x "$b" ]; then
		so_log "building MinIO $MINIO_VERSION with go install (about 6 minutes, once)"
		(cd / && GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION") >&2 || so_die "go install minio failed"
	fi
	echo "$b"
}

# so_go_tool BIN MODULE PACKAGE VERSION: the Go command BIN of MODULE at VERSION in GOPATH/bin,
# installed with `go install PACKAGE@VERSION` unless the binary there was built from it already.
so_go_tool() {
	local b
	b="$(so_gobin)/$1"
	if [ ! -x "$b" ] || ! go version -m "$b" 2>/dev/null | grep -qP "^\tmod\t\Q$2\E\t\Q$4\E\t"; then
		so_log "installing $1 $4"
		(cd / && go install "$3@$4") >&2 || so_die "go install $3@$4 failed"
	fi
	echo "$b"
}

# so_age_cli: the age CLI (tests decrypt stored objects with it).
so_age_cli() { so_go_tool age filippo.io/age "filippo.io/age/cmd/..." "$AGE_VERSION"; }

# so_staticcheck and so_gosec: the linters make test runs (security review), pinned.
so_staticcheck() { so_go_tool staticcheck honnef.co/go/tools honnef.co/go/tools/cmd/staticcheck "$STATICCHECK_VERSION"; }
so_gosec() { so_go_tool gosec github.com/securego/gosec/v2 github.com/securego/gosec/v2/cmd/gosec "$GOSEC_VERSION"; }

# so_free_port: a loopback TCP port nobody listens on.
so_free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
	done
	so_die "no free port found"
}

# so_port_open PORT: true when something listens on 127.0.0.1:PORT.
so_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# so_as_pg CMD...: run as the postgres user when root (initdb refuses to run as root).
so_as_pg() {
	if [ "$(id -u)" = 0 ]; then
		id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# so_pg_init DATADIR AUTH [PWFILE]: create a cluster unless DATADIR already holds one.
so_pg_init() {
	local dir=$1 auth=$2 pwfile=${3:-} bindir
	bindir=$(so_pg_bindir)
	[ -f "$dir/PG_VERSION" ] && return 0
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown postgres "$dir" 2>/dev/null || true
	chmod 700 "$dir"
	local args=(-D "$dir" -U postgres -E UTF8 --locale=C.UTF-8 --auth="$auth")
	if [ -n "$pwfile" ]; then
		[ "$(id -u)" = 0 ] && chown postgres "$pwfile"
		args+=(--pwfile="$pwfile")
	fi
	so_as_pg "$bindir/initdb" "${args[@]}" >/dev/null || so_die "initdb failed"
}

# so_pg_start DATADIR PORT: start the cluster on 127.0.0.1:PORT (no-op when it runs).
so_pg_start() {
	local dir=$1 port=$2 bindir
	bindir=$(so_pg_bindir)
	if so_as_pg "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then return 0; fi
	so_as_pg "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
		-o "-p $port -c listen_addresses=127.0.0.1 -k $dir -c fsync=${SO_PG_FSYNC:-on} -c max_connections=300" start >/dev/null \
		|| { tail -n 20 "$dir/server.log" >&2; so_die "PostgreSQL did not start"; }
}

so_pg_stop() {
	local dir=$1 bindir
	bindir=$(so_pg_bindir)
	so_as_pg "$bindir/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

# so_minio_start DATADIR PORT USER PASSWORD PIDFILE: start MinIO on 127.0.0.1:PORT unless it runs.
so_minio_start() {
	local dir=$1 port=$2 user=$3 pass=$4 pidfile=$5 bin
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return 0; fi
	bin=$(so_minio_bin)
	mkdir -p "$dir"
	# Incomplete multipart uploads live longer than any tus upload may (the service expires those first).
	MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass MINIO_BROWSER=off MINIO_API_STALE_UPLOADS_EXPIRY=72h \
		nohup "$bin" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$(so_free_port)" "$dir" \
		>"$dir.log" 2>&1 &
	echo $! >"$pidfile"
	for _ in $(seq 1 150); do
		if curl -fsS "http://127.0.0.1:$port/minio/health/ready" >/dev/null 2>&1; then return 0; fi
		kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -n 20 "$dir.log" >&2; so_die "MinIO exited"; }
		sleep 0.2
	done
	so_die "MinIO did not become ready on port $port"
}

so_minio_stop() {
	local pidfile=$1
	[ -f "$pidfile" ] || return 0
	kill "$(cat "$pidfile")" 2>/dev/null || true
	rm -f "$pidfile"
}

so_random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# so_node_deps: node and the locked npm packages of web/ui (tus-js-client, esbuild, playwright-core).
so_node_deps() {
	command -v node >/dev/null || so_apt_install nodejs npm
	if [ ! -d web/ui/node_modules ] || [ web/ui/package-lock.json -nt web/ui/node_modules ]; then
		so_log "npm ci (web/ui)"
		(cd web/ui && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || so_die "npm ci failed"
		touch web/ui/node_modules
	fi
}

# so_chromium: Debian's Chromium for the browser tests (no downloaded browsers).
so_chromium() {
	[ -x /usr/bin/chromium ] || so_apt_install chromium
	echo /usr/bin/chromium
}

# so_ui_bundle: the pages' browser bundles (web/static/dist), built by esbuild from the locked
# npm packages. They are embedded in the binary, so they are built before it.
so_ui_bundle() {
	so_node_deps
	so_log "building the browser bundles (web/static/dist)"
	(cd web/ui && npm run --silent build >/dev/null) || so_die "npm run build failed"
}

# so_page_test_tools: what the page tests drive besides Node: Chromium, DCMTK (img2dcm and
# dcmmkdir make the DICOM CD) and Caddy (the TLS-terminating proxy).
so_page_test_tools() {
	so_chromium >/dev/null
	local missing=()
	command -v img2dcm >/dev/null || missing+=(dcmtk)
	command -v caddy >/dev/null || missing+=(caddy)
	[ ${#missing[@]} -eq 0 ] || so_apt_install "${missing[@]}"
}

# so_throwaway_services DIR: a PostgreSQL and a MinIO of their own under DIR, on free loopback
# ports, for tests and benchmarks; each unless SO_TEST_DATABASE_URL / SO_TEST_MINIO_ENDPOINT
# already name one. Exports the SO_TEST_* variables; so_throwaway_stop DIR stops what it started.
# SO_PG_FSYNC=off speeds up tests; benchmarks keep fsync on, as in production.
so_throwaway_services() {
	local dir=$1 port
	if [ -z "${SO_TEST_DATABASE_URL:-}" ]; then
		port=$(so_free_port)
		so_log "starting a throwaway PostgreSQL on 127.0.0.1:$port"
		so_pg_init "$dir/pg" trust
		touch "$dir/started-pg"
		so_pg_start "$dir/pg" "$port"
		export SO_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	fi
	if [ -z "${SO_TEST_MINIO_ENDPOINT:-}" ]; then
		port=$(so_free_port)
		so_log "starting a throwaway MinIO on 127.0.0.1:$port"
		export SO_TEST_MINIO_ENDPOINT="127.0.0.1:$port" SO_TEST_MINIO_ACCESS_KEY=testadmin SO_TEST_MINIO_SECRET_KEY="$(so_random)"
		touch "$dir/started-minio"
		so_minio_start "$dir/minio" "$port" "$SO_TEST_MINIO_ACCESS_KEY" "$SO_TEST_MINIO_SECRET_KEY" "$dir/minio.pid"
	fi
}

so_throwaway_stop() {
	local dir=$1 pid
	[ -f "$dir/started-pg" ] && so_pg_stop "$dir/pg"
	if [ -f "$dir/started-minio" ] && [ -f "$dir/minio.pid" ]; then
		pid=$(cat "$dir/minio.pid")
		so_minio_stop "$dir/minio.pid"
		for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$dir"
}
