#!/usr/bin/env bash
# demo.sh - `make demo`: install what is missing, build and install the
# extension, start a throwaway cluster in ./demo_cluster on a free loopback
# port, load sample embeddings and run example queries (test/demo.sql).
# `make install` puts the extension into the system PostgreSQL (pg_config's
# pkglibdir and sharedir; `make uninstall` removes it).  The cluster keeps
# running so you can connect; the script prints how to connect, how to stop
# it and how to remove what it installed.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/pgenv.sh

base_packages
echo "== building and installing rsr_vector"
make -s
make -s install >/dev/null

dir=$PWD/demo_cluster
bindir=$("$PG_CONFIG" --bindir)
if [ -f "$dir/data/postmaster.pid" ]; then
	echo "== stopping the previous demo cluster"
	stop_cluster "$dir" "$bindir"
fi
rm -rf "$dir"
echo "== starting a throwaway cluster in $dir"
start_cluster "$dir" "$bindir"
as_pg "$bindir/createdb" -h "$PGHOST" -p "$PGPORT" -U postgres demo
echo "== running test/demo.sql"
as_pg "$bindir/psql" -h "$PGHOST" -p "$PGPORT" -U postgres -d demo -X -v ON_ERROR_STOP=1 --echo-queries -f - <test/demo.sql

pg_ctl_cmd="$bindir/pg_ctl -D $dir/data stop"
[ "$(id -u)" = 0 ] && pg_ctl_cmd="runuser -u postgres -- $pg_ctl_cmd"
cat <<MSG

The demo cluster is running on 127.0.0.1 port $PGPORT (database "demo").
  connect:  psql -h 127.0.0.1 -p $PGPORT -U postgres demo
  stop:     $pg_ctl_cmd
  remove:   stop it, then rm -rf $dir
rsr_vector is installed in the system PostgreSQL ($(pg_config --pkglibdir) and
$(pg_config --sharedir)/extension); \`make uninstall\` removes it (README.md, "Two commands").
MSG
