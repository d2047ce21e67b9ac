#!/usr/bin/env bash
# Make sure the services the tests talk to are running: RabbitMQ (with the management
# plugin) and PostgreSQL. Starts what is installed but stopped. Installs what is missing
# only where that is expected (CI=true, as root); otherwise says what to do.
set -euo pipefail

say() { echo "services: $*"; }
can_install() { [[ "${CI:-}" == "true" && "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; }
apt_updated=""
apt_install() {
  if [[ -z "$apt_updated" ]]; then DEBIAN_FRONTEND=noninteractive apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
  for _ in $(seq 1 120); do port_open "$1" && return 0; sleep 0.5; done
  return 1
}

# --- RabbitMQ -------------------------------------------------------------------------
if ! port_open 5672; then
  if ! command -v rabbitmq-server >/dev/null; then
    if can_install; then
      say "installing rabbitmq-server (Debian package)"
      apt_install rabbitmq-server
    else
      echo "RabbitMQ is not running on 127.0.0.1:5672 and rabbitmq-server is not installed." >&2
      echo "Install it (sudo apt-get install -y rabbitmq-server) or point BEATKEEPER_TEST_BROKER_URL at one." >&2
      exit 1
    fi
  fi
  say "starting rabbitmq-server -detached"
  rabbitmq-server -detached || true
  wait_port 5672 || { echo "RabbitMQ did not open port 5672" >&2; exit 1; }
fi
# The fault tests start a private node of their own (tests/support/celery_local/rabbitmq_node.py)
# from the installed rabbitmq-server, even when the shared broker on 5672 runs elsewhere.
rabbitmq_installed() { command -v rabbitmq-server >/dev/null || [[ -x /usr/sbin/rabbitmq-server ]]; }
if ! rabbitmq_installed; then
  if can_install; then
    say "installing rabbitmq-server for the fault tests' private node"
    apt_install rabbitmq-server
  else
    say "warning: rabbitmq-server is not installed: fault tests will be skipped (sudo apt-get install -y rabbitmq-server)"
  fi
fi
if command -v rabbitmq-plugins >/dev/null && ! port_open 15672; then
  say "enabling rabbitmq_management"
  rabbitmq-plugins enable rabbitmq_management >/dev/null || true
  wait_port 15672 || say "warning: management API did not open port 15672"
fi
say "rabbitmq ok"

# --- Chromium for the browser tests (Playwright drives Debian's build; its own download fails) --
if ! command -v chromium >/dev/null && [[ ! -x /usr/bin/chromium ]]; then
  if can_install; then
    say "installing chromium (Debian package) for the browser tests"
    apt_install chromium
  else
    say "warning: chromium is not installed: browser tests will be skipped (sudo apt-get install -y chromium)"
  fi
fi

# --- Prometheus for the monitoring test (promtool checks the alert rules; a real server
# scrapes /metrics and evaluates every shipped query): Debian's package has both binaries.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  if can_install; then
    say "installing prometheus (Debian package) for the monitoring test"
    apt_install prometheus
  else
    say "warning: prometheus is not installed: the Prometheus test will be skipped (sudo apt-get install -y prometheus)"
  fi
fi

# --- PostgreSQL -------------------------------------------------------------------------
if ! port_open 5432; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    if can_install; then
      say "installing postgresql (Debian package)"
      apt_install postgresql
      # Trust local TCP connections for the test database user, as the dev machines do.
      for hba in /etc/postgresql/*/main/pg_hba.conf; do
        sed -i -E 's/^(host\s+all\s+all\s+127\.0\.0\.1\/32\s+)\S+/\1trust/' "$hba"
      done
    else
      echo "PostgreSQL is not running on 127.0.0.1:5432; PostgreSQL tests will be skipped." >&2
      echo "Install it (sudo apt-get install -y postgresql) or set BEATKEEPER_TEST_POSTGRES_URL." >&2
      exit 0
    fi
  fi
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  wait_port 5432 || { echo "PostgreSQL did not open port 5432" >&2; exit 1; }
fi
say "postgresql ok"
