#!/usr/bin/env bash
# make run: PostgreSQL and MinIO under .data/ on loopback (installed when missing), keys and a first
# admin on first start (admin@localhost, its password in .data/secrets/admin-password),
# .data/dev.env for the CLI, then the service on http://127.0.0.1:8080.
# A second run reuses everything under .data/.
set -euo pipefail
cd "$(dirname "$0")/.."
. .ci/lib.sh

root=$(pwd)
data="$root/.data"
pg_port=${SO_DEV_PG_PORT:-55432}
minio_port=${SO_DEV_MINIO_PORT:-59000}
mkdir -p "$data/secrets" "$data/keys" "$data/mail"
chmod 700 "$data/secrets" "$data/keys"
chmod 755 "$data" # the postgres user must reach .data/pg; secrets and keys stay 0700
command -v curl >/dev/null || so_apt_install curl

secret() { # secret NAME: a generated secret kept in .data/secrets/NAME
	local f="$data/secrets/$1"
	[ -s "$f" ] || (umask 077 && so_random >"$f")
	cat "$f"
}

# PostgreSQL: a cluster of our own with password (SCRAM) authentication on 127.0.0.1 only.
pg_super=$(secret pg-superuser)
if [ ! -f "$data/pg/PG_VERSION" ]; then
	so_log "creating the PostgreSQL cluster in .data/pg"
	pwfile=$(mktemp /tmp/so-pw.XXXXXX); echo "$pg_super" >"$pwfile" # initdb, as postgres, reads it
	so_pg_init "$data/pg" scram-sha-256 "$pwfile"
	rm -f "$pwfile"
fi
so_log "PostgreSQL on 127.0.0.1:$pg_port"
so_pg_start "$data/pg" "$pg_port"

owner_pw=$(secret db-owner-password)
app_pw=$(secret db-app-password)
PGPASSWORD=$pg_super psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
	-v owner_pw="$owner_pw" -v app_pw="$app_pw" >/dev/null <<'SQL'
SELECT 'CREATE ROLE secondopinion_runtime NOLOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'secondopinion_runtime') \gexec
SELECT 'CREATE ROLE so_owner LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'so_owner') \gexec
SELECT 'CREATE ROLE so_app LOGIN IN ROLE secondopinion_runtime' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'so_app') \gexec
ALTER ROLE so_owner PASSWORD :'owner_pw';
ALTER ROLE so_app PASSWORD :'app_pw';
SELECT 'CREATE DATABASE secondopinion OWNER so_owner' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'secondopinion') \gexec
SQL
(umask 077
 echo "postgres://so_app:$app_pw@127.0.0.1:$pg_port/secondopinion?sslmode=disable" >"$data/secrets/database-url"
 echo "postgres://so_owner:$owner_pw@127.0.0.1:$pg_port/secondopinion?sslmode=disable" >"$data/secrets/database-owner-url")

# MinIO. The service has a user of its own (security review, finding 3), made below by
# `storage setup` with the root credentials, which only that command is given.
minio_pw=$(secret minio-root-password)
so_log "MinIO on 127.0.0.1:$minio_port"
so_minio_start "$data/minio" "$minio_port" so-admin "$minio_pw" "$data/minio.pid"
secret minio-service-secret-key >/dev/null
rm -f "$data/secrets/minio-secret-key" # the root password, which the service was given before

# Keys: the key-encryption key and the audit checkpoint signing key.
bin="$root/bin/secondopinion"
if [ ! -f "$data/keys/kek-1.age" ]; then
	so_log "generating the first key-encryption key"
	"$bin" keys generate --out "$data/keys/kek-1.age" >/dev/null
fi
if [ ! -f "$data/keys/totp.key" ]; then
	(umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$data/keys/totp.key")
fi
if [ ! -f "$data/keys/checkpoint.key" ]; then
	so_log "generating the audit checkpoint signing key (verifier key in .data/keys/checkpoint.vkey)"
	"$bin" audit keygen --out "$data/keys/checkpoint.key" --name "127.0.0.1/secondopinion-dev/audit" >"$data/keys/checkpoint.vkey"
fi
kek_files=$(ls "$data"/keys/kek-*.age | sort -V | paste -sd, -)

cat >"$data/dev.env" <<ENV
# Written by make run. Secrets are in files under .data/secrets (mode 0600).
SO_LISTEN_ADDR=127.0.0.1:8080
SO_PUBLIC_URL=http://127.0.0.1:8080
SO_DATABASE_URL_FILE=$data/secrets/database-url
SO_DATABASE_OWNER_URL_FILE=$data/secrets/database-owner-url
SO_MINIO_ENDPOINT=127.0.0.1:$minio_port
SO_MINIO_ACCESS_KEY=secondopinion
SO_MINIO_SECRET_KEY_FILE=$data/secrets/minio-service-secret-key
SO_MINIO_BUCKET=secondopinion
SO_MINIO_CHECKPOINT_BUCKET=secondopinion-audit
SO_KEK_FILES=$kek_files
SO_TOTP_KEY_FILE=$data/keys/totp.key
SO_CHECKPOINT_KEY_FILE=$data/keys/checkpoint.key
SO_SMTP_URL=file://$data/mail
ENV
chmod 600 "$data/dev.env"

so_log "MinIO: the buckets and the service's own user (storage setup)"
SO_MINIO_ROOT_USER=so-admin SO_MINIO_ROOT_PASSWORD_FILE="$data/secrets/minio-root-password" \
	"$bin" --env-file "$data/dev.env" storage setup >/dev/null
"$bin" --env-file "$data/dev.env" migrate

# The first admin, on first start: its password is generated and kept in .data/secrets.
admin_pw="$data/secrets/admin-password"
if [ ! -s "$admin_pw" ]; then
	so_log "creating the first admin, admin@localhost"
	if ! out=$("$bin" --env-file "$data/dev.env" users add --email admin@localhost --role admin --name Administrator 2>&1); then
		case $out in *"already exists"*) ;; *) so_die "users add: $out" ;; esac
	fi
	(umask 077 && so_random >"$admin_pw.new")
	"$bin" --env-file "$data/dev.env" users set-password --email admin@localhost <"$admin_pw.new"
	mv "$admin_pw.new" "$admin_pw"
fi

cat >&2 <<MSG

  secondopinion is starting on http://127.0.0.1:8080  (readiness: http://127.0.0.1:8080/readyz)
  The CLI reads the same configuration:  bin/secondopinion --env-file .data/dev.env COMMAND

  Sign in as admin@localhost with the password in .data/secrets/admin-password (mode 0600):
    POST http://127.0.0.1:8080/api/v1/session  {"email":"admin@localhost","password":"..."}
  TOTP enrolment follows at the first login: POST /api/v1/session/totp shows the secret (and an
  otpauth:// URI) for an authenticator app, POST /api/v1/session/totp/confirm {"code":"123456"}
  completes it; later logins add "totp":"<code>". Scripts use a token instead:
    bin/secondopinion --env-file .data/dev.env tokens issue --email admin@localhost
  Mails (sign-in links, invitations) are written to .data/mail/.
  Stop with Ctrl-C; PostgreSQL and MinIO keep running (data in .data/).

MSG
exec "$bin" --env-file "$data/dev.env" serve
