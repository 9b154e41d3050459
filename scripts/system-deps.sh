#!/usr/bin/env bash
# Installs the system programs the tests and benchmarks use (nginx, Varnish, curl, wrk,
# redis-server, chromium for the page's browser tests;
# with the argument "bench" also valgrind, for the middleware benchmark's
# instruction counts) from Debian's packages, and makes sure the local
# PostgreSQL is up.
# Without root or apt-get it installs nothing: the tests that need a missing
# program then skip with a reason (or fail under CI=true).
set -u
programs=(nginx varnishd curl wrk redis-server chromium)
[ "${1:-}" = bench ] && programs+=(valgrind)
missing=()
for program in "${programs[@]}"; do
  command -v "$program" >/dev/null 2>&1 || [ -x "/usr/sbin/$program" ] || missing+=("$program")
done
# Program names to Debian package names (varnishd comes in the package varnish).
packages=()
for program in "${missing[@]}"; do
  case "$program" in
    varnishd) packages+=(varnish) ;;
    *) packages+=("$program") ;;
  esac
done
missing=("${packages[@]}")
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "system-deps: installing ${missing[*]} from Debian's packages"
    apt-get update -qq >/dev/null 2>&1 || echo "system-deps: apt-get update failed" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      >/dev/null 2>&1 || echo "system-deps: could not install ${missing[*]}" >&2
  else
    echo "system-deps: ${missing[*]} missing and not root: tests that need them will skip" >&2
  fi
fi
# nginx's Debian package may start a server on port 80, varnish's one on 6081; the tests
# and deploy/stack.py run their own.
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "system-deps: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
fi
# The cache's Redis storage tests use the local Redis (tests/client/redis_server.py starts a
# private one on a free port when none answers on 6379).
exit 0
