#!/usr/bin/env bash
# Minimal subset of the official image's entrypoint: first start creates the
# cluster with POSTGRES_USER as superuser (scram-sha-256) and POSTGRES_DB.
set -euo pipefail
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
  POSTGRES_PASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"
fi
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE}"

# A cluster made by another major cannot be opened: say so once, instead of
# the postmaster's FATAL on every restart (churnlab's lab-up recreates it).
if [ -s "$PGDATA/PG_VERSION" ] && [ -n "${PG_MAJOR:-}" ] && [ "$(cat "$PGDATA/PG_VERSION")" != "$PG_MAJOR" ]; then
  echo "error: $PGDATA was initialised by PostgreSQL $(cat "$PGDATA/PG_VERSION"); this image runs $PG_MAJOR:" \
       "remove the volume (make lab-clean) or run the major it was made with (PG_MAJOR=$(cat "$PGDATA/PG_VERSION"))" >&2
  exit 1
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile="$(mktemp)"
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
  printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  if [ "$POSTGRES_DB" != postgres ]; then
    echo "CREATE DATABASE \"$POSTGRES_DB\";" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
  echo "initialised cluster in $PGDATA (database $POSTGRES_DB, user $POSTGRES_USER)"
else
  # The secret file is the source of truth: a volume made with an older
  # password (another checkout, regenerated .secrets/) is brought in line.
  escaped="${POSTGRES_PASSWORD//\'/\'\'}"
  echo "ALTER ROLE \"$POSTGRES_USER\" PASSWORD '$escaped';" | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec "$@"
