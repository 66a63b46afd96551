#!/usr/bin/env bash
# Tools the unit tests call besides Python: promtool (Debian's `prometheus` package) for
# the alert-rule tests and docker-compose (Debian's `docker-compose`, v1, parses compose
# files without an engine) for the compose-file tests. Installs only what is missing;
# needs root or sudo when something is missing. Called by `make test` / `make tools`.
set -euo pipefail
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
echo "installing ${missing[*]} (apt-get) for the rule and compose tests"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
