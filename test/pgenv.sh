# pgenv.sh - shell helpers shared by `make test`, `make demo` and the
# benchmarks: install what is missing, make a private installation of
# PostgreSQL plus this extension, start and stop throwaway clusters.
#
# Source it from bash.  It never touches a cluster it did not create: every
# cluster lives in a fresh directory and listens on a port found free.

# The server version tested: the major version of $PG_CONFIG when it
# exists (as `make PG_CONFIG=...` uses it), else Debian 12's 15.
PG_CONFIG=${PG_CONFIG:-pg_config}
if [ -z "${PG_MAJOR:-}" ]; then
	PG_MAJOR=$("$PG_CONFIG" --version 2>/dev/null | sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
	PG_MAJOR=${PG_MAJOR:-15}
fi
export PG_CONFIG PG_MAJOR
RSR_ROOT=${RSR_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

# Run a command as the server's user: `postgres` when we are root
# (PostgreSQL refuses to run as root), else ourselves.
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# Install the Debian packages named when they are missing.  As root this runs
# apt-get; otherwise it prints the exact command and fails.
need_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing packages: ${missing[*]}" >&2
		echo "run as root:  apt-get update && apt-get install -y ${missing[*]}" >&2
		return 1
	fi
	echo "== installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
}

base_packages() {
	need_packages make gcc libc6-dev "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" "$@"
}

# A free TCP port on the loopback interface.
free_port() {
	local p
	for p in $(shuf -i 20000-60000 -n 50); do
		if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# Private installation: a copy of PostgreSQL's binaries and share files with
# this extension installed into it (like PostgreSQL's own `make check`), so
# tests never depend on or change the system installation.  PostgreSQL finds
# its share and lib directories relative to its binaries.
make_tmp_install() {
	local dest=$RSR_ROOT/tmp_install pgbin pgshare
	pgbin=$("$PG_CONFIG" --bindir)
	pgshare=$("$PG_CONFIG" --sharedir)
	rm -rf "$dest"
	mkdir -p "$dest$(dirname "$(dirname "$pgbin")")" "$dest$(dirname "$pgshare")"
	cp -a "$(dirname "$pgbin")" "$dest$(dirname "$(dirname "$pgbin")")/"
	cp -a "$pgshare" "$dest$(dirname "$pgshare")/"
	make -C "$RSR_ROOT" -s install DESTDIR="$dest" >/dev/null
	chmod -R a+rX "$dest"
	TMP_BINDIR=$dest$pgbin
	export TMP_BINDIR
}

# start_cluster DIR BINDIR [postgresql.conf lines...]: initdb + start on a
# free loopback port; sets PGPORT and PGHOST and exports them.
start_cluster() {
	local dir=$1 bindir=$2 line
	shift 2
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	chmod 700 "$dir"
	as_pg "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log"; return 1; }
	PGPORT=$(free_port) || { echo "no free port" >&2; return 1; }
	PGHOST=127.0.0.1
	{
		echo "port = $PGPORT"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$dir'"
		echo "fsync = off"
		for line in "$@"; do echo "$line"; done
	} | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
	as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null ||
		{ cat "$dir/server.log"; return 1; }
	export PGPORT PGHOST
}

# stop_cluster DIR BINDIR: stop what start_cluster started (no-op if down).
stop_cluster() {
	[ -f "$1/data/postmaster.pid" ] && as_pg "$2/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1
	return 0
}

# prove_tap DIR TESTS...: run TAP tests as the server's user against the
# private installation (make_tmp_install first), with DIR as their scratch
# space; prints the tail of each server log when a test fails.
prove_tap() {
	local tdir=$1 pgxs rc
	shift
	pgxs=$(cd "$(dirname "$("$PG_CONFIG" --pgxs)")/.." && pwd)
	mkdir -p "$tdir/tmp_check"
	[ "$(id -u)" = 0 ] && chown -R postgres: "$tdir"
	# TESTDIR for PostgreSQL 15 and 16, TESTDATADIR and TESTLOGDIR from 17
	as_pg env PATH="$TMP_BINDIR:$PATH" TESTDIR="$tdir" PGPORT="$(free_port)" \
		TESTDATADIR="$tdir/tmp_check" TESTLOGDIR="$tdir/tmp_check/log" \
		PG_REGRESS="$pgxs/test/regress/pg_regress" RSR_ROOT="$RSR_ROOT" \
		RSR_TEST_LAYOUT="${RSR_TEST_LAYOUT:-}" \
		prove -I "$pgxs/test/perl" -I test/t ${PROVE_FLAGS:-} "$@"
	rc=$?
	[ $rc -ne 0 ] && for f in "$tdir"/tmp_check/log/*; do echo "---- $f"; tail -n 40 "$f"; done
	return $rc
}
