#!/usr/bin/env bash
# Installs PostgreSQL with pgvector for vecshard's tests and real-cluster mode. Idempotent.
#   Debian 12 (bookworm): PostgreSQL 15 from Debian, pgvector built from Debian's trixie *source* package.
#   Debian 13 (trixie):   postgresql-17 and postgresql-17-pgvector are binary packages.
# The deb-src line reuses the URI of the machine's own Debian source list; no registry host is written here.
set -euo pipefail

debian_major=$(cut -d. -f1 /etc/debian_version 2>/dev/null || echo unknown)
want=15; [ "$debian_major" = "13" ] && want=17
if [ -x "/usr/lib/postgresql/$want/bin/postgres" ] && [ -f "/usr/share/postgresql/$want/extension/vector.control" ] \
   && command -v pgbench >/dev/null && command -v psql >/dev/null && command -v pgbouncer >/dev/null; then
  echo "PostgreSQL $want with pgvector is already installed: /usr/lib/postgresql/$want/bin"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-postgres.sh: needs root (it runs apt-get and installs into PostgreSQL's folders)." >&2
  echo "  Run it as: sudo bash scripts/install-postgres.sh" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
}

has_vector() { [ -f "/usr/share/postgresql/$1/extension/vector.control" ]; }

if [ "$debian_major" = "13" ]; then
  pgv=17
  if [ -x "/usr/lib/postgresql/$pgv/bin/postgres" ] && has_vector "$pgv"; then
    echo "PostgreSQL $pgv with pgvector is already installed."
  else
    apt_update_once
    apt-get install -y -qq "postgresql-$pgv" "postgresql-$pgv-pgvector" >/dev/null
  fi
else
  pgv=15
  if [ ! -x "/usr/lib/postgresql/$pgv/bin/postgres" ] || [ ! -x "/usr/lib/postgresql/$pgv/bin/pg_config" ] \
     || ! dpkg -s "postgresql-server-dev-$pgv" >/dev/null 2>&1 || ! command -v pgbench >/dev/null; then
    apt_update_once
    apt-get install -y -qq "postgresql-$pgv" "postgresql-client-$pgv" "postgresql-server-dev-$pgv" \
      postgresql-contrib build-essential dpkg-dev >/dev/null
  fi
  if has_vector "$pgv"; then
    echo "pgvector is already installed for PostgreSQL $pgv."
  else
    src_list=/etc/apt/sources.list.d/vecshard-trixie-src.sources
    if [ ! -f "$src_list" ]; then
      uri=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
      if [ -z "$uri" ]; then
        uri=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list 2>/dev/null || true)
      fi
      if [ -z "$uri" ]; then
        echo "install-postgres.sh: cannot find the Debian archive URI in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list." >&2
        exit 1
      fi
      printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$src_list"
      apt_updated=0
    fi
    apt_update_once
    work=$(mktemp -d); chmod 755 "$work"
    trap 'rm -rf "$work"' EXIT
    ( cd "$work" && apt-get source --download-only -qq pgvector >/dev/null && dpkg-source -x --no-check ./pgvector_*.dsc src >/dev/null )
    make -s -C "$work/src" PG_CONFIG="/usr/lib/postgresql/$pgv/bin/pg_config" >/dev/null
    make -s -C "$work/src" PG_CONFIG="/usr/lib/postgresql/$pgv/bin/pg_config" install >/dev/null
    has_vector "$pgv" || { echo "install-postgres.sh: pgvector did not install" >&2; exit 1; }
    echo "Built and installed pgvector for PostgreSQL $pgv."
  fi
fi
# PgBouncer: the pooler the benchmarks compare vecshard with.
if ! command -v pgbouncer >/dev/null; then
  apt_update_once
  apt-get install -y -qq pgbouncer >/dev/null
fi
echo "PostgreSQL $pgv binaries: /usr/lib/postgresql/$pgv/bin"
