#!/usr/bin/env bash
# The production-shaped stack on this machine (deploy/stack.py, docs/deploy.md):
#   scripts/stack.sh up [--instances N] [--db postgresql://...] [--cache-control KEY=DIRECTIVES]
#   scripts/stack.sh down
# N `ifmatch serve` instances on one PostgreSQL, nginx (balancer + proxy_cache) and Varnish
# in front, all on 127.0.0.1; state, configurations and logs in .stack/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system-deps.sh >&2
exec .venv/bin/python deploy/stack.py "$@"
