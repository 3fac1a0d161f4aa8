#!/bin/sh
# The PgBouncer exporter (python3-psycopg2) reads the password from a pgpass
# file written here from the compose secret: never in argv or the environment.
set -eu
umask 077
printf '*:*:*:%s:%s\n' "${PGBOUNCER_USER}" "$(cat /run/secrets/db_password)" > /tmp/pgpass
export PGPASSFILE=/tmp/pgpass
exec prometheus-pgbouncer-exporter --host 0.0.0.0 --port 9127 "$@"
