#!/usr/bin/env bash
# pgversions.sh - the build and the server suites (pg_regress, TAP) on the
# PostgreSQL versions Debian 12 does not ship: 17 from Debian 13 (trixie) and
# 18 from Debian unstable (sid).  A stage of `make test` when run as root.
#
# Each version gets a minimal Debian root made by debootstrap in
# build/chroot/<suite> (kept for the next run; delete it to refresh it).  The
# source tree is copied into the root, /proc and a /dev/shm are mounted, and
# `RSR_SERVER_ONLY=1 test/run.sh` runs there against that version's
# pg_config: the build with WERROR=1, pg_regress, then TAP as `postgres`.
# Everything mounted is unmounted, and every process left in a root is
# ended, on exit, failure or interrupt.
#
# Making a root needs Debian's archive (RSR_DEBIAN_MIRROR); when it cannot be
# reached the stage fails: CI is required to test 17 and 18.
#
#   RSR_PG_VERSIONS   versions to test as NN:suite pairs ("17:trixie 18:sid")
#   RSR_CHROOT_DIR    where the roots live (build/chroot)
#   RSR_DEBIAN_MIRROR Debian archive (http://deb.debian.org/debian)
set -euo pipefail
cd "$(dirname "$0")/.."
. test/pgenv.sh

versions=${RSR_PG_VERSIONS:-"17:trixie 18:sid"}
chroots=$(realpath -m "${RSR_CHROOT_DIR:-$PWD/build/chroot}")
mirror=${RSR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
src=rsr_vector # the tree's copy: /rsr_vector inside a root

if [ "$(id -u)" != 0 ]; then
	echo "pgversions.sh: debootstrap, chroot and mount need root" >&2
	exit 1
fi
need_packages debootstrap

# The packages of a root for PostgreSQL $1: the server, its headers (and
# PGXS, pg_regress, the TAP modules), the compiler, IPC::Run for TAP,
# python3 for the safetensors files the regression suite writes
root_packages() {
	echo "postgresql-$1,postgresql-server-dev-$1,gcc,make,libc6-dev,libipc-run-perl,perl,python3"
}

# Unmount every mount under the root $1, deepest first, after ending the
# processes whose root directory it is (a server a failed test left running)
teardown_root() {
	local root=$1 pids i m
	for i in 1 2 3 4 5 6; do
		pids=$(procs_in "$root")
		[ -z "$pids" ] && break
		# shellcheck disable=SC2086 # a list of process ids
		kill "-$([ "$i" -le 3 ] && echo TERM || echo KILL)" $pids 2>/dev/null || true
		sleep 1
	done
	mounts_under "$root" | sort -r | while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	if [ -n "$(mounts_under "$root")" ]; then
		echo "pgversions.sh: could not unmount everything under $root" >&2
		return 1
	fi
}

# The processes whose root directory is $1
procs_in() {
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" = "$1" ] && echo "${p#/proc/}"
	done
	return 0
}

# The mount points under the directory $1
mounts_under() {
	awk -v r="$1" 'index($2, r "/") == 1 { print $2 }' /proc/self/mounts
}

# End the process $1 and all its descendants, children first
kill_tree() {
	local c
	for c in $(pgrep -P "$1"); do
		kill_tree "$c"
	done
	kill -TERM "$1" 2>/dev/null || true
}

roots=() # every root this run may mount something in
makers=() # the background make_root jobs still running
cleanup() {
	local r j
	for j in "${makers[@]}"; do
		kill_tree "$j"
	done
	for j in "${makers[@]}"; do
		wait "$j" 2>/dev/null || true
	done
	for r in "${roots[@]}"; do
		teardown_root "$r" || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Is the root $2 of PostgreSQL $1 complete and made with today's packages?
root_ready() {
	[ -f "$2/.rsr-packages" ] && [ "$(cat "$2/.rsr-packages")" = "$(root_packages "$1")" ]
}

# Make the root of PostgreSQL $1 from Debian suite $2 in $3.  A root is
# complete once it holds .rsr-packages, the list it was made with; a
# half-made one (.tmp) or one made with another list is made again.
make_root() {
	local v=$1 suite=$2 root=$3 pkgs t0
	pkgs=$(root_packages "$v")
	teardown_root "$root.tmp" && teardown_root "$root" || return 1
	rm -rf "$root.tmp" "$root"
	mkdir -p "$(dirname "$root")"
	echo "== PostgreSQL $v: debootstrap $suite from $mirror into $root"
	t0=$SECONDS
	if ! debootstrap --variant=minbase --include="$pkgs" "$suite" "$root.tmp" "$mirror" \
		>"$root.log" 2>&1; then
		tail -n 20 "$root.log"
		echo "pgversions.sh: could not make the Debian $suite root from $mirror" >&2
		echo "(is Debian's archive reachable? PostgreSQL $v was not tested)" >&2
		teardown_root "$root.tmp"
		return 1
	fi
	teardown_root "$root.tmp" || return 1
	rm -rf "$root.tmp/var/cache/apt/archives"/*.deb
	echo "$pkgs" >"$root.tmp/.rsr-packages"
	mv "$root.tmp" "$root"
	echo "== PostgreSQL $v: root made in $((SECONDS - t0)) s ($(du -sxh "$root" | cut -f1))"
}

# Copy the source tree (what git tracks plus untracked files it does not
# ignore; everything but build outputs without git) into the root $1
copy_tree() {
	local dest=$1/$src
	rm -rf "$dest"
	mkdir -p "$dest"
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
			tar --null -T - -cf - | tar -xf - -C "$dest"
	else
		tar --exclude=./.git --exclude=./build --exclude=./tmp_install --exclude=./results \
			--exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -xf - -C "$dest"
	fi
}

# Build and run the server suites of PostgreSQL $1 inside the root $2
run_in_root() {
	local v=$1 root=$2 rc=0 t0
	copy_tree "$root" || return 1
	mkdir -p "$root/dev/shm"
	mount -t proc proc "$root/proc" &&
		mount -t tmpfs -o mode=1777,size=1g tmpfs "$root/dev/shm" || return 1
	t0=$SECONDS
	echo "== PostgreSQL $v: build, pg_regress and TAP in $root"
	# In the background so that a signal reaches the trap at once (bash runs
	# traps only between foreground commands); the trap ends what runs inside
	chroot "$root" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 PROVE_FLAGS="${PROVE_FLAGS:-}" RSR_SERVER_ONLY=1 PG_MAJOR="$v" \
		PG_CONFIG="/usr/lib/postgresql/$v/bin/pg_config" bash "/$src/test/run.sh" &
	wait $! || rc=$?
	echo "== PostgreSQL $v: $([ $rc = 0 ] && echo passed || echo FAILED) in $((SECONDS - t0)) s"
	teardown_root "$root" || rc=1
	return $rc
}

# The roots missing are made at the same time (mostly downloads and dpkg
# I/O), then the suites run one version after the other
failed=()
ok=()
declare -A job
mkdir -p "$chroots"
for pair in $versions; do
	v=${pair%%:*}
	root=$chroots/${pair#*:}
	roots+=("$root.tmp" "$root")
	if root_ready "$v" "$root"; then
		echo "== PostgreSQL $v: reusing $root"
	else
		make_root "$v" "${pair#*:}" "$root" >"$root.make.log" 2>&1 &
		job[$v]=$!
		makers+=($!)
	fi
done
for pair in $versions; do
	v=${pair%%:*}
	root=$chroots/${pair#*:}
	if [ -n "${job[$v]:-}" ]; then
		wait "${job[$v]}" || failed+=("$v")
		cat "$root.make.log"
	fi
done
makers=()
for pair in $versions; do
	v=${pair%%:*}
	root=$chroots/${pair#*:}
	case " ${failed[*]} " in *" $v "*) continue ;; esac
	if root_ready "$v" "$root" && run_in_root "$v" "$root"; then
		ok+=("$v")
	else
		failed+=("$v")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "PostgreSQL ${failed[*]}: FAILED"
	exit 1
fi
echo "PostgreSQL ${ok[*]}: passed"
