#!/usr/bin/env bash
# Make sure the services the test suite talks to are up: PostgreSQL 15 with PostGIS 3, and the
# Mosquitto MQTT broker on 127.0.0.1:1883 (device ingestion).
# Installs PostGIS and Mosquitto from Debian's packages when missing; starts them if stopped.
# With CI=true any failure is fatal (tests of a backend must never skip silently there).
set -euo pipefail
PGHOST=${CITYOS_TEST_PGHOST:-127.0.0.1}
fail() { echo "services: $*" >&2; exit 1; }
sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v psql >/dev/null; then
  fail "psql not found: install PostgreSQL 15 (apt-get install postgresql-15) or set CITYOS_TEST_POSTGRES_URL"
fi
if ! pg_isready -h "$PGHOST" -q 2>/dev/null; then
  echo "services: starting PostgreSQL"
  sudo_if_needed pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start \
    || fail "PostgreSQL is not running on $PGHOST:5432 and could not be started"
  for _ in $(seq 1 30); do pg_isready -h "$PGHOST" -q && break; sleep 1; done
fi
pgver=$(psql -h "$PGHOST" -U postgres -Atc "SHOW server_version_num" | cut -c1-2)
if [ ! -f "/usr/share/postgresql/$pgver/extension/postgis.control" ]; then
  echo "services: installing PostGIS for PostgreSQL $pgver"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-$pgver-postgis-3" >/dev/null \
    || fail "could not install postgresql-$pgver-postgis-3"
fi
psql -h "$PGHOST" -U postgres -Atc "SELECT 1" >/dev/null || fail "cannot connect to PostgreSQL as postgres"
echo "services: PostgreSQL $pgver with PostGIS ready on $PGHOST:5432"

# Mosquitto on 127.0.0.1:1883 for the ingestion tests (tests/ingest) and `CITYOS_MQTT_URL`.
MQTT_PORT=${CITYOS_TEST_MQTT_PORT:-1883}
mqtt_up() { (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null; }
if ! mqtt_up; then
  if ! command -v mosquitto >/dev/null; then
    echo "services: installing Mosquitto"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null \
      || fail "could not install mosquitto (apt-get install mosquitto)"
  fi
  conf=/etc/mosquitto/mosquitto.conf
  if [ ! -f "$conf" ] || ! grep -q "^listener $MQTT_PORT" "$conf"; then
    # Debian's default file listens on localhost only through conf.d; make it explicit.
    conf=$(mktemp /tmp/cityos-mosquitto.XXXXXX.conf)
    printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location /tmp/\n' "$MQTT_PORT" >"$conf"
  fi
  echo "services: starting Mosquitto ($conf)"
  [ -d /run/mosquitto ] || sudo_if_needed install -d -o mosquitto /run/mosquitto 2>/dev/null || true
  sudo_if_needed mosquitto -d -c "$conf" || fail "Mosquitto could not be started with $conf"
  for _ in $(seq 1 20); do mqtt_up && break; sleep 0.5; done
  mqtt_up || fail "Mosquitto is not listening on 127.0.0.1:$MQTT_PORT"
fi
echo "services: Mosquitto ready on 127.0.0.1:$MQTT_PORT"

# The browser tests (tests/web/) drive Debian's Chromium; never a browser Playwright downloads.
if [ ! -x /usr/bin/chromium ]; then
  echo "services: installing Debian's chromium for the browser tests"
  if ! { sudo_if_needed apt-get update -qq \
      && sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
    if [ "${CI:-}" = "true" ]; then
      fail "could not install Debian's chromium (apt-get install chromium): CI needs it for tests/web"
    fi
    echo "services: chromium is missing; tests/web will skip (run: apt-get install chromium)" >&2
  fi
fi
[ -x /usr/bin/chromium ] && echo "services: $(/usr/bin/chromium --version 2>/dev/null | head -1) ready"
# A Korean font, so the browser tests' screenshots show Hangul, not boxes (the checks themselves
# read the DOM and need no font). Best effort: a missing font never fails the run.
if [ -x /usr/bin/chromium ] && ! fc-list 2>/dev/null | grep -qi "cjk\|hangul\|nanum"; then
  echo "services: installing a Korean font (fonts-noto-cjk) for readable screenshots"
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk >/dev/null 2>&1 \
    || echo "services: fonts-noto-cjk could not be installed; screenshots will show Korean as boxes" >&2
fi
true
