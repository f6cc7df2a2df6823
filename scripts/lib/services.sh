# Shared by the scripts: make sure the programs and local services Confab's tests and
# development cluster need are installed and running. Idempotent: on a machine where
# everything already runs it only checks. Needs root (or passwordless sudo) to install.

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds or time runs out.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "timed out waiting for $what"; return 1
    fi
    sleep 0.5
  done
}

apt_updated=0
# apt_install PACKAGE...: installs the packages that are missing.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  if [ "$apt_updated" -eq 0 ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

ensure_packages() {
  local want=()
  command -v redis-server >/dev/null || want+=(redis-server)
  command -v redis-cli >/dev/null || want+=(redis-tools)
  command -v nats-server >/dev/null || want+=(nats-server)
  command -v pg_ctlcluster >/dev/null || want+=(postgresql)
  command -v mariadbd >/dev/null || want+=(mariadb-server)
  command -v node >/dev/null || want+=(nodejs)
  command -v npm >/dev/null || want+=(npm)
  command -v chromium >/dev/null || want+=(chromium)
  python3 -c 'import ensurepip, venv' 2>/dev/null || want+=(python3-venv)
  # Emoji (reactions) in the browser tests' screenshots.
  [ -d /usr/share/fonts/truetype/noto ] && ls /usr/share/fonts/truetype/noto | grep -q NotoColorEmoji ||
    want+=(fonts-noto-color-emoji)
  [ ${#want[@]} -eq 0 ] || apt_install "${want[@]}"
}

# The S3-compatible server the attachment tests start (moto's `moto_server`), from PyPI
# into a virtual environment of its own; puts it on PATH.
ensure_s3_server() {
  local venv="${HOME}/.cache/confab/moto"
  if [ ! -x "$venv/bin/moto_server" ]; then
    log "installing moto (an S3-compatible server for the tests)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
  fi
  export PATH="$venv/bin:$PATH"
}

ensure_postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
    wait_for "PostgreSQL" 60 pg_isready -q -h 127.0.0.1 -p 5432
  fi
  # The role the tests connect as; created through the local socket as the superuser.
  $SUDO runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -c \
    "DO \$\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='confab') THEN
       CREATE ROLE confab LOGIN PASSWORD 'confab' CREATEDB; END IF; END\$\$;" >/dev/null
}

ensure_mariadb() {
  if ! mariadb-admin ping --silent >/dev/null 2>&1; then
    log "starting MariaDB"
    $SUDO mkdir -p /run/mysqld
    $SUDO chown mysql:mysql /run/mysqld 2>/dev/null || true
    $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    wait_for "MariaDB" 60 mariadb-admin ping --silent
  fi
  $SUDO mariadb -u root -e "
    CREATE USER IF NOT EXISTS 'confab'@'127.0.0.1' IDENTIFIED BY 'confab';
    CREATE USER IF NOT EXISTS 'confab'@'localhost' IDENTIFIED BY 'confab';
    GRANT ALL PRIVILEGES ON *.* TO 'confab'@'127.0.0.1';
    GRANT ALL PRIVILEGES ON *.* TO 'confab'@'localhost';
    FLUSH PRIVILEGES;"
}
