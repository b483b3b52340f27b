#!/usr/bin/env bash
# carry.sh - prepare, on a machine with Debian's package archive, what a bare
# GPU machine lacks for the TAP step of test/gpu/run.sh: Debian 12's
# PostgreSQL 15 server, client and development files and Perl's IPC::Run,
# downloaded as .deb files into .gpu/debs (git-ignored, about 30 MB).  Carry
# `.gpu` with the working tree; run.sh unpacks them under /tmp/rsr_pgroot
# (never into /) and puts that PostgreSQL first on PATH.  PostgreSQL finds
# its libraries and share files relative to its binaries, so the unpacked
# tree works where it lies.  Needs apt-get (any user; no install happens).
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .gpu/debs
cd .gpu/debs
rm -f ./*.deb
# The server and what it links that a CUDA image may lack (libllvm is only
# for JIT, which the tests do not use), then IPC::Run for the TAP harness
apt-get download postgresql-15 postgresql-client-15 postgresql-server-dev-15 libpq5 \
	libicu72 libxml2 libxslt1.1 liblz4-1 libldap-2.5-0 libsasl2-2 libipc-run-perl
du -sh .
