#!/bin/sh
# Runs once, inside the postgres container, on an empty data volume: creates the migration owner,
# the runtime role and the service's login role, with passwords read from Docker secrets.
set -eu
owner_pw=$(cat /run/secrets/db_owner_password)
app_pw=$(cat /run/secrets/db_app_password)
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
	-v owner_pw="$owner_pw" -v app_pw="$app_pw" <<'SQL'
CREATE ROLE secondopinion_runtime NOLOGIN;
CREATE ROLE so_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE so_app LOGIN PASSWORD :'app_pw' IN ROLE secondopinion_runtime;
CREATE DATABASE secondopinion OWNER so_owner;
SQL
