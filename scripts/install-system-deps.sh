#!/usr/bin/env bash
# Installs the real components the test suite runs: promtool/prometheus, amtool/alertmanager and
# blackbox_exporter (the peer of the probe-engine benchmark), chromium (the status page tests drive it through
# Playwright, which is told its path: nothing downloads a browser), kubectl (kustomize) and jsonnet (the mixin)
# and victoria-metrics with vmalert (remote storage and a remote ruler, tests/test_remote_chain.py)
# (Debian packages), and the PostgreSQL 15 server the
# sink tests start (Debian's postgresql-15).
set -euo pipefail
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || missing+=(prometheus-blackbox-exporter)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # the status page tests drive it through Playwright
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)  # kubectl kustomize: the Kubernetes manifests
command -v jsonnet >/dev/null 2>&1 || missing+=(jsonnet)  # the monitoring mixin
command -v vmalert >/dev/null 2>&1 || missing+=(victoria-metrics)  # remote storage and ruler: victoria-metrics, vmalert
pg_bin=$(pg_config --bindir 2>/dev/null || true)
{ [ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ]; } || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql-15)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} (Debian packages) for the test suite"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "WARNING: ${missing[*]} not installed and can't install them here (needs root and apt-get)." >&2
  echo "         Tests that need them are skipped outside CI and fail in CI." >&2
fi
