#!/usr/bin/env bash
# Runs Hub's whole test suite on a fresh machine: installs and starts what the suites need, builds,
# runs every test project, and ends with the runners' summaries and one "N passed, N failed" line.
#
# SQL Server tests run only when HUB_TEST_SQLSERVER holds a connection string (no server can run here);
# otherwise they are reported as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."

log_dir=$(mktemp -d)
trap 'rm -rf "$log_dir"' EXIT

# Servers the integration suites use come from Debian's packages (see ../shared/REGISTRY.md).
if [ -x scripts/services.sh ]; then
  bash scripts/services.sh || { echo "Could not start the test services"; echo "0 passed, 1 failed"; exit 1; }
fi

echo "== build"
if ! dotnet build Hub.sln -c Release -nologo -v q 2>&1 | tail -n 20; then
  echo "0 passed, 1 failed"; exit 1
fi

echo "== test"
dotnet test Hub.sln -c Release --no-build -nologo --logger "console;verbosity=minimal" 2>&1 | tee "$log_dir/test.log" \
  | grep -vE '^\s*Skipped .*\(kind: "sqlserver"\)'
status=${PIPESTATUS[0]}

# dotnet test prints one "Passed!/Failed!  - Failed: N, Passed: N, Skipped: N, Total: N" line per test project.
sum() { grep -E '^(Passed|Failed)!' "$log_dir/test.log" | grep -oE "$1: +[0-9]+" | grep -oE '[0-9]+' | awk '{s+=$1} END {print s+0}'; }
passed=$(sum Passed); failed=$(sum Failed); skipped=$(sum Skipped)
projects=$(grep -cE '^(Passed|Failed)!' "$log_dir/test.log")
if [ "$projects" -eq 0 ]; then failed=$((failed + 1)); status=1; fi

echo
grep -E '^(Passed|Failed)!' "$log_dir/test.log"
if [ -z "${HUB_TEST_SQLSERVER:-}" ]; then
  echo "SQL Server store tests skipped: HUB_TEST_SQLSERVER is not set (no SQL Server can run here)."
fi
echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
