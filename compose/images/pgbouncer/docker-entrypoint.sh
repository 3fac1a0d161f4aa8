#!/usr/bin/env bash
# Render pgbouncer.ini and the auth file from the environment, then start.
# PGBOUNCER_LISTEN_ADDR empty means Unix socket only (PgBouncer beside the app).
set -euo pipefail
: "${DB_HOST:=db}" "${DB_PORT:=5432}" "${DB_NAME:=lab}" "${DB_USER:=lab}"
: "${DB_PASSWORD_FILE:?DB_PASSWORD_FILE is required}"
: "${PGBOUNCER_LISTEN_ADDR=0.0.0.0}" "${PGBOUNCER_PORT:=6432}"
: "${PGBOUNCER_POOL_MODE:=transaction}" "${PGBOUNCER_DEFAULT_POOL_SIZE:=20}"
: "${PGBOUNCER_MAX_CLIENT_CONN:=10000}" "${PGBOUNCER_LISTEN_BACKLOG:=128}"
: "${PGBOUNCER_AUTH_TYPE:=scram-sha-256}"

umask 077
password="$(cat "$DB_PASSWORD_FILE")"
printf '"%s" "%s"\n' "$DB_USER" "$password" >/etc/pgbouncer/userlist.txt
cat >/etc/pgbouncer/pgbouncer.ini <<INI
[databases]
${DB_NAME} = host=${DB_HOST} port=${DB_PORT} dbname=${DB_NAME}

[pgbouncer]
listen_addr = ${PGBOUNCER_LISTEN_ADDR}
listen_port = ${PGBOUNCER_PORT}
listen_backlog = ${PGBOUNCER_LISTEN_BACKLOG}
unix_socket_dir = /run/pgbouncer
unix_socket_mode = 0777
auth_type = ${PGBOUNCER_AUTH_TYPE}
auth_file = /etc/pgbouncer/userlist.txt
admin_users = ${DB_USER}
stats_users = ${DB_USER}
pool_mode = ${PGBOUNCER_POOL_MODE}
default_pool_size = ${PGBOUNCER_DEFAULT_POOL_SIZE}
max_client_conn = ${PGBOUNCER_MAX_CLIENT_CONN}
ignore_startup_parameters = extra_float_digits
server_reset_query =
log_connections = 0
log_disconnections = 0
log_pooler_errors = 1
INI
exec "$@"
