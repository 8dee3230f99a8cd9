#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL cluster:
#   scripts/with-postgres.sh .venv/bin/pytest tests/service tests/store
# initdb into a temporary folder, start the server listening only on a Unix
# socket in that folder (trust authentication, no TCP port to collide with),
# export SYNTH_TEST_DATABASE_URL naming it, run the command, then stop the
# server and delete the folder. Durability is off (fsync, synchronous_commit):
# the data is thrown away. As root, the server runs as the `postgres` user
# (initdb and postgres refuse root). Needs the server binaries: on Debian,
# `apt-get install postgresql`.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi

if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
  bindir=$(dirname "$(command -v initdb)")
else  # Debian keeps the server binaries off PATH
  bindir=$(find /usr/lib/postgresql -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n 1 | xargs -r dirname)
fi
if [ -z "${bindir:-}" ] || [ ! -x "$bindir/pg_ctl" ]; then
  echo "$0: PostgreSQL's initdb and pg_ctl not found (apt-get install postgresql)" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/synth-pg.XXXXXX")
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$tmp"
fi

stop_cluster() {
  as_owner "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_owner "$bindir/initdb" -D "$tmp/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
  >"$tmp/initdb.log" 2>&1 || { cat "$tmp/initdb.log" >&2; exit 1; }
cat >>"$tmp/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$tmp'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
as_owner "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 start >/dev/null \
  || { cat "$tmp/server.log" >&2; exit 1; }

export SYNTH_TEST_DATABASE_URL="postgresql+psycopg://postgres@/postgres?host=$tmp"
echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on $tmp: SYNTH_TEST_DATABASE_URL=$SYNTH_TEST_DATABASE_URL" >&2
status=0
"$@" || status=$?
if [ "$status" -ne 0 ] && [ -s "$tmp/server.log" ]; then
  echo "--- the end of PostgreSQL's log ---" >&2
  tail -n 40 "$tmp/server.log" >&2
fi
exit "$status"
