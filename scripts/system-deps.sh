#!/usr/bin/env bash
# Debian packages some tests use: psqlODBC + unixODBC (the loader's ODBC path), socat (serial tests) and
# chromium (the dashboard's browser test, driven by Playwright with executable_path: no browser download).
# Best effort: without root or apt, those tests skip and say why.
set -uo pipefail
need=()
[ -e /usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so ] || [ -n "$(ls /usr/lib/*/odbc/psqlodbcw.so 2>/dev/null)" ] || need+=(odbc-postgresql unixodbc)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: cannot install ${need[*]} (needs root and apt); the tests that use them will skip" >&2
  exit 0
fi
echo "system-deps: installing ${need[*]}" >&2
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null 2>&1 \
  || echo "system-deps: apt-get install ${need[*]} failed; the tests that use them will skip" >&2
exit 0
