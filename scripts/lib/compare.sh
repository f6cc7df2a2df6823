# The `compare` mode of scripts/bench (its header says how to call it): starts each system
# with everything it needs on private ports, runs one confab-loadtest scenario against it,
# stops it, and at the end renders the table (scripts/lib/compare_table.py).
#
# Server logs go to <results>/logs/. Uses from scripts/bench: $target (release dir),
# $work (scratch, removed on exit),
# $confab_env, log and wait_for (services.sh). Every server-side process is pinned to
# CPU 0 and its pid handed to the load generator (--pid), which is pinned to CPU 1.

compare_systems=(confab socketio-redis raw-ws)

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A private redis-server, no persistence, with any extra options given. Sets redis_url;
# adds its pid to server_pids.
start_redis() {
  local port; port=$(free_port)
  taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work" "$@" >"$logs/redis-$port.log" 2>&1 &
  server_pids+=($!)
  wait_for "redis-server" 15 redis-cli -p "$port" ping
  redis_url="redis://127.0.0.1:$port"
}

# A private nats-server. Sets nats_url.
start_nats() {
  local port; port=$(free_port)
  taskset -c 0 nats-server -a 127.0.0.1 -p "$port" >"$logs/nats.log" 2>&1 &
  server_pids+=($!)
  wait_for "nats-server" 15 port_open "$port"
  nats_url="nats://127.0.0.1:$port"
}

# A Redis Cluster of 3 masters (no replicas, no persistence), its slots spread by
# redis-cli. Sets redis_url (redis-cluster://, every master a seed) and redis_ports.
start_redis_cluster() {
  local port seeds=()
  redis_ports=()
  for _ in 1 2 3; do
    port=$(free_port)
    mkdir -p "$work/redis-$port"
    taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
      --cluster-require-full-coverage no --dir "$work/redis-$port" \
      >"$logs/redis-$port.log" 2>&1 &
    server_pids+=($!)
    wait_for "redis-server $port" 15 redis-cli -p "$port" ping
    redis_ports+=("$port")
    seeds+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${seeds[@]}" --cluster-replicas 0 --cluster-yes >"$logs/redis-cluster.log"
  for port in "${redis_ports[@]}"; do
    wait_for "redis cluster ok on $port" 15 sh -c "redis-cli -p $port cluster info | grep -q cluster_state:ok"
  done
  redis_url="redis-cluster://${seeds[0]}?node=${seeds[1]}&node=${seeds[2]}"
}

# A NATS cluster of 3 servers routed from the first. Sets nats_urls (one per server).
start_nats_cluster() {
  local port route seed="" args
  nats_urls=()
  for i in 1 2 3; do
    port=$(free_port); route=$(free_port)
    args=(-a 127.0.0.1 -p "$port" --cluster_name bench --cluster "nats://127.0.0.1:$route")
    [ -z "$seed" ] || args+=(--routes "nats://127.0.0.1:$seed")
    seed=${seed:-$route}
    taskset -c 0 nats-server "${args[@]}" >"$logs/nats-$i.log" 2>&1 &
    server_pids+=($!)
    wait_for "nats-server $port" 15 port_open "$port"
    nats_urls+=("nats://127.0.0.1:$port")
  done
}

# A fresh private PostgreSQL cluster (default settings: synchronous commit on), so that
# only Confab's own backends are counted. Sets database_url, pg_data and pg_bin.
start_postgres() {
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  local port root; port=$(free_port); root=$(mktemp -d)
  chown postgres: "$root"
  pg_data="$root/data"
  $SUDO runuser -u postgres -- "$pg_bin/initdb" -D "$pg_data" -A trust -U confab >/dev/null
  $SUDO runuser -u postgres -- taskset -c 0 "$pg_bin/pg_ctl" -D "$pg_data" -l "$root/log" -w \
    -o "-p $port -k $root -c listen_addresses=127.0.0.1" start >/dev/null
  server_pids+=("$(head -n 1 "$pg_data/postmaster.pid")")
  psql -q -h 127.0.0.1 -p "$port" -U confab -d postgres -c "CREATE DATABASE confab" >/dev/null
  database_url="postgres://confab@127.0.0.1:$port/confab"
}

stop_postgres() {
  [ -n "$pg_data" ] || return 0
  $SUDO runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$(dirname "$pg_data")"
  pg_data=""
}

# Two Confab nodes in cluster mode (one HTTP worker each: each has one core at most).
start_confab() {
  start_redis
  start_nats
  start_postgres
  local i
  for i in 1 2; do start_confab_node "$i" "$nats_url"; done
}

# With CONFAB_TLS=1 the Confab nodes serve HTTPS/WSS with a certificate made here for
# 127.0.0.1, which the load generator trusts (CONFAB_LOADTEST_CA_FILE).
confab_tls() {
  [ "${CONFAB_TLS:-}" = 1 ] || return 0
  if [ ! -f "$work/tls.pem" ]; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
      -subj /CN=127.0.0.1 -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
      -addext "basicConstraints=critical,CA:FALSE" \
      -keyout "$work/tls.key" -out "$work/tls.pem" 2>/dev/null
  fi
  export CONFAB_LOADTEST_CA_FILE="$work/tls.pem"
}

# Confab node number $1 on the bus at $2 (the directory at $redis_url, the database at
# $database_url); adds its URL to urls.
start_confab_node() {
  local port scheme=http tls=() check=(curl -sf)
  port=$(free_port)
  confab_tls
  if [ "${CONFAB_TLS:-}" = 1 ]; then
    scheme=https
    tls=(CONFAB_TLS_CERT="$work/tls.pem" CONFAB_TLS_KEY="$work/tls.key")
    check+=(--cacert "$work/tls.pem")
  fi
  env CONFAB_LISTEN="127.0.0.1:$port" CONFAB_DATABASE_URL="$database_url" \
    CONFAB_REDIS_URL="$redis_url" CONFAB_NATS_URL="$2" CONFAB_NODE_ID="bench-$1" \
    CONFAB_JWT_SECRET="bench-secret-bench-secret-bench-secret" CONFAB_WORKERS=1 \
    "${tls[@]}" "${confab_env[@]}" taskset -c 0 "$target/confab" serve >"$logs/confab-$1.log" 2>&1 &
  server_pids+=($!)
  # one after the other: the first applies the migrations
  wait_for "confab node $1" 60 "${check[@]}" "$scheme://127.0.0.1:$port/readyz"
  urls+=("$scheme://127.0.0.1:$port")
}

# Two socket.io instances on one private Redis. Redis's default limit on a subscriber's
# output buffer (32 MB) disconnects an instance that falls behind at saturation, and the
# adapter then crashes on a torn message; the limit is lifted so that the peer finishes
# the runs (an operator would do the same).
start_socketio_redis() {
  start_redis --client-output-buffer-limit "pubsub 0 0 0"
  local i port
  for i in 1 2; do
    port=$(free_port)
    NODE_ENV=production taskset -c 0 node loadtest/peers/socketio-redis/server.js \
      --port "$port" --redis "$redis_url" >"$logs/socketio-$i.log" 2>&1 &
    server_pids+=($!)
    urls+=("http://127.0.0.1:$port")
  done
  for port in "${urls[@]}"; do
    wait_for "socket.io instance $port" 30 curl -sf "$port/readyz"
  done
}

# The raw-ws ceiling: one process; its URL is given twice so that the load generator
# spreads users (and crossing pairs) exactly as for the two-node systems. For idle
# connections ($1 = idle), two processes, as many as the other systems have: each process
# may hold 20,000 open files here, and nothing crosses between them.
start_raw_ws() {
  local i port processes=1
  [ "${1:-}" != idle ] || processes=2
  for ((i = 0; i < processes; i++)); do
    port=$(free_port)
    taskset -c 0 "$target/raw-ws" --listen "127.0.0.1:$port" >"$logs/raw-ws-$i.log" 2>&1 &
    server_pids+=($!)
    wait_for "raw-ws" 15 port_open "$port"
    urls+=("http://127.0.0.1:$port")
  done
  [ "$processes" -eq 2 ] || urls+=("${urls[0]}")
}

stop_servers() {
  [ ${#server_pids[@]} -eq 0 ] || kill "${server_pids[@]}" 2>/dev/null || true
  stop_postgres
  wait 2>/dev/null || true
}

# compare SCENARIO [ARGS...]: the whole comparison.
compare() {
  [ $# -ge 1 ] || { usage; exit 2; }
  local systems=(${SYSTEMS:-${compare_systems[*]}}) system
  for system in "${systems[@]}"; do
    [[ " ${compare_systems[*]} " == *" $system "* ]] || { log "unknown system $system"; exit 2; }
  done
  [ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release --locked -p confab-raw-ws --bin raw-ws >&2
  if [[ " ${systems[*]} " == *" socketio-redis "* ]]; then
    (cd loadtest/peers/socketio-redis && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  if pgrep -x rustc >/dev/null; then
    log "warning: a compile is running; the figures will be disturbed"
  fi
  local out stamp
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  out="$(dirname "$target")/bench/$1-$stamp"
  local logs="$out/logs"
  mkdir -p "$logs"
  printf '%s\n' "scripts/bench compare $*" >"$out/command"
  for system in "${systems[@]}"; do
    server_pids=()
    urls=()
    local kind=chat
    case "$system" in
      confab) start_confab ;;
      socketio-redis) start_socketio_redis ;;
      raw-ws) start_raw_ws "$1"; kind=raw ;;
    esac
    log "$system: $* (servers on CPU 0: pids ${server_pids[*]})"
    cut -d' ' -f1 /proc/loadavg >"$out/$system.load"
    local args=(--target "$kind" --label "$system" --run "${system:0:1}${stamp:9:6}"
      --json "$out/$system.json" --markdown "$out/summary.md" --charts "$out/charts-$system")
    [ -t 2 ] || args+=(--quiet)
    local url pid
    for url in "${urls[@]}"; do args+=(--url "$url"); done
    for pid in "${server_pids[@]}"; do args+=(--pid "$pid"); done
    # shellcheck disable=SC2086 # LOADTEST_ARGS is a list of options
    taskset -c 1 "$target/confab-loadtest" "${args[@]}" ${LOADTEST_ARGS:-} "$@" || log "$system: the load generator failed"
    stop_servers
  done
  python3 scripts/lib/compare_table.py --command "scripts/bench compare $*" \
    --commit "$(git rev-parse --short HEAD)" "$out" "${systems[@]}" >"$out/table.md"
  cat "$out/table.md"
  log "results in $out"
}
