#!/usr/bin/env bash
# Makes sure the servers the test suites use are installed and running (see ../shared/REGISTRY.md):
#   - chromium         (browser tests, tests/Hub.BrowserTests)
#   - rabbitmq-server  (HUB_TRANSPORT=rabbitmq tests), started with `rabbitmq-server -detached`
#   - redis-server     (HUB_REDIS tests), started on port 6379
# Idempotent and quiet: installs only what is missing (one `apt-get update` first), starts only what is not
# running. Exits non-zero when anything cannot be installed or started, so the tests that need it fail
# rather than skip. Called by scripts/test.sh; safe to run by hand.
set -uo pipefail

say() { echo "services: $*" >&2; }
fail() { say "$*"; exit 1; }

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "not root and no sudo: cannot install packages"
  sudo_cmd=(sudo -n)
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# --- install what is missing ------------------------------------------------------------------------
missing=()
for pkg in chromium rabbitmq-server redis-server; do
  installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  apt_log=$(mktemp)
  if ! "${sudo_cmd[@]}" apt-get update -qq >"$apt_log" 2>&1 \
    || ! "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
         >>"$apt_log" 2>&1; then
    tail -n 30 "$apt_log" >&2
    rm -f "$apt_log"
    fail "could not install ${missing[*]}"
  fi
  rm -f "$apt_log"
  for pkg in "${missing[@]}"; do installed "$pkg" || fail "$pkg is still not installed"; done
fi
[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium is missing after installing chromium"

export PATH="$PATH:/usr/sbin:/sbin"

# --- Redis ----------------------------------------------------------------------------------------------
# Running means answering at all: a Redis that cannot write its snapshot answers even PING with MISCONF.
if ! redis-cli -p 6379 ping 2>/dev/null | grep -q -e PONG -e MISCONF -e LOADING; then
  say "starting redis-server on 6379"
  # A test server keeps nothing: no snapshots (a snapshot into a folder that has gone away, such as the
  # working folder it was started from, makes Redis refuse every write), working folder /tmp.
  redis-server --port 6379 --daemonize yes --save '' --appendonly no --dir /tmp >/dev/null || fail "redis-server did not start"
  for _ in $(seq 1 50); do
    redis-cli -p 6379 ping 2>/dev/null | grep -q PONG && break
    sleep 0.2
  done
fi
# A Redis already running (started by hand, or by an earlier version of this script from a folder since
# deleted) may fail to write its snapshot and then refuse every write. Tests need no persistence.
redis-cli -p 6379 config set save '' >/dev/null 2>&1 || true
redis-cli -p 6379 config set stop-writes-on-bgsave-error no >/dev/null 2>&1 || true
redis-cli -p 6379 ping 2>/dev/null | grep -q PONG || fail "redis-server does not answer PING on 6379"

# --- RabbitMQ -------------------------------------------------------------------------------------------
if ! rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1; then
  say "starting rabbitmq-server"
  rabbitmq-server -detached >/dev/null 2>&1 || fail "rabbitmq-server -detached failed"
  # The node takes a moment to appear before await_startup can even reach it.
  ok=
  for _ in $(seq 1 30); do
    if rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1; then ok=1; break; fi
    sleep 2
  done
  [ -n "$ok" ] || fail "rabbitmq-server did not start (see /var/log/rabbitmq/)"
fi

exit 0
