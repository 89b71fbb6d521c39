# Bring-up of MySQL/MariaDB and Redis on loopback, shared by scripts/test.sh and bench/run.sh. Source it (from
# bash with `set -euo pipefail`), install `trap cleanup EXIT` (or a trap that calls `cleanup`), then call
# `servers_up`:
#   - MySQL/MariaDB: uses the server answering on 127.0.0.1:${FARMLOKAL_TEST_MYSQL_PORT:-3306}; otherwise starts
#     the installed mariadbd (or mysqld) on loopback with a throw-away data dir on a free port, installing
#     mariadb-server with apt-get first when it is missing.
#   - Redis: the same with ${FARMLOKAL_TEST_REDIS_PORT:-6379} and redis-server (no persistence).
#   - exports FARMLOKAL_TEST_MYSQL_URL and FARMLOKAL_TEST_REDIS_URL (set them to use other servers as they are).
# `redis_cluster_up` (called by scripts/test.sh after `servers_up`) starts a throw-away Redis Cluster of three
# masters with one replica each on free loopback ports and exports FARMLOKAL_TEST_REDIS_CLUSTER_NODES (set it to
# use another cluster as it is).
# `replication_up` (separately) starts a throw-away MariaDB primary with binary logging and a replica following it
# by GTID, on free loopback ports, and exports FARMLOKAL_TEST_MYSQL_PRIMARY_URL / FARMLOKAL_TEST_MYSQL_REPLICA_URL.
# `cleanup` stops every pid in STARTED_PIDS (callers may append their own) and removes WORK_DIR (a fresh
# mktemp dir unless the caller set WORK_DIR before sourcing).

section() { printf '\n========== %s ==========\n' "$*"; }
note() { printf '  %s\n' "$*"; }

MYSQL_PORT="${FARMLOKAL_TEST_MYSQL_PORT:-3306}"
REDIS_PORT="${FARMLOKAL_TEST_REDIS_PORT:-6379}"
REDIS_CLUSTER_PORT="${FARMLOKAL_TEST_REDIS_CLUSTER_PORT:-7000}"
WORK_DIR="${WORK_DIR:-$(mktemp -d /tmp/farmlokal-test.XXXXXX)}"
STARTED_PIDS=()

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$WORK_DIR"
}
# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The first port from $1 upwards that nothing listens on.
free_port() {
    local port="$1"
    while port_open "$port"; do port=$((port + 1)); done
    echo "$port"
}

apt_updated=0
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "need to install $* but not running as root" >&2
        exit 1
    fi
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

find_binary() {
    local name
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
        if [ -x "/usr/sbin/$name" ]; then echo "/usr/sbin/$name"; return 0; fi
    done
    return 1
}

mysql_answers() {
    local port="$1"
    local client
    if client="$(find_binary mariadb mysql)"; then
        "$client" --protocol=TCP -h127.0.0.1 -P"$port" -uroot -e 'SELECT 1' >/dev/null 2>&1
    else
        port_open "$port"
    fi
}

redis_answers() {
    local port="$1"
    if command -v redis-cli >/dev/null 2>&1; then
        [ "$(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null)" = PONG ]
    else
        port_open "$port"
    fi
}

start_mysql() {
    local server install_db client port datadir
    if ! server="$(find_binary mariadbd mysqld)"; then
        note "no MariaDB/MySQL server installed: installing mariadb-server"
        apt_install mariadb-server mariadb-client
        server="$(find_binary mariadbd mysqld)"
    fi
    install_db="$(find_binary mariadb-install-db mysql_install_db)"
    client="$(find_binary mariadb mysql)"
    port="$(free_port "$MYSQL_PORT")"
    datadir="$WORK_DIR/mysql"
    note "starting $server on 127.0.0.1:$port (data in $datadir)"
    "$install_db" --no-defaults --user="$(id -un)" --datadir="$datadir" --auth-root-authentication-method=normal \
        --skip-test-db >"$WORK_DIR/mysql-install.log" 2>&1 || { cat "$WORK_DIR/mysql-install.log"; exit 1; }
    "$server" --no-defaults --user="$(id -un)" --datadir="$datadir" --bind-address=127.0.0.1 --port="$port" \
        --socket="$WORK_DIR/mysql.sock" --pid-file="$WORK_DIR/mysql.pid" --log-error="$WORK_DIR/mysql.err" \
        --skip-log-bin --innodb-buffer-pool-size=256M --max-connections=500 &
    STARTED_PIDS+=("$!")
    for _ in $(seq 1 600); do
        if "$client" --socket="$WORK_DIR/mysql.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; then break; fi
        kill -0 "${STARTED_PIDS[-1]}" 2>/dev/null || { cat "$WORK_DIR/mysql.err"; exit 1; }
        sleep 0.1
    done
    # TCP clients from 127.0.0.1 log in as root without a password, like the usual local test server.
    "$client" --socket="$WORK_DIR/mysql.sock" -uroot -e \
        "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
    mysql_answers "$port" || { echo "the MySQL server started but does not answer on $port" >&2; exit 1; }
    MYSQL_PORT="$port"
}

redis_server_binary() {
    if ! find_binary redis-server >/dev/null || ! command -v redis-cli >/dev/null 2>&1; then
        note "no redis-server or redis-cli installed: installing them" >&2
        apt_install redis-server redis-tools >&2
    fi
    find_binary redis-server
}

start_redis() {
    local server port
    server="$(redis_server_binary)"
    port="$(free_port "$REDIS_PORT")"
    note "starting $server on 127.0.0.1:$port (no persistence)"
    "$server" --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$WORK_DIR" \
        --daemonize no --logfile "$WORK_DIR/redis.log" &
    STARTED_PIDS+=("$!")
    for _ in $(seq 1 100); do
        redis_answers "$port" && break
        kill -0 "${STARTED_PIDS[-1]}" 2>/dev/null || { cat "$WORK_DIR/redis.log"; exit 1; }
        sleep 0.1
    done
    redis_answers "$port" || { echo "redis-server started but does not answer on $port" >&2; exit 1; }
    REDIS_PORT="$port"
}

# Makes sure a MySQL and a Redis server answer and exports FARMLOKAL_TEST_MYSQL_URL / FARMLOKAL_TEST_REDIS_URL.
servers_up() {
    if [ -n "${FARMLOKAL_TEST_MYSQL_URL:-}" ]; then
        note "MySQL: $FARMLOKAL_TEST_MYSQL_URL (given)"
    else
        if mysql_answers "$MYSQL_PORT"; then
            note "MySQL: using the server answering on 127.0.0.1:$MYSQL_PORT"
        else
            start_mysql
        fi
        export FARMLOKAL_TEST_MYSQL_URL="mysql://root@127.0.0.1:$MYSQL_PORT"
    fi
    if [ -n "${FARMLOKAL_TEST_REDIS_URL:-}" ]; then
        note "Redis: $FARMLOKAL_TEST_REDIS_URL (given)"
    else
        if redis_answers "$REDIS_PORT"; then
            note "Redis: using the server answering on 127.0.0.1:$REDIS_PORT"
        else
            start_redis
        fi
        export FARMLOKAL_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
    fi
}

# How many replicas the cluster node on port $1 knows of (the flags column says `slave`, or `myself,slave`).
cluster_replicas_seen() {
    redis-cli -h 127.0.0.1 -p "$1" CLUSTER NODES 2>/dev/null | awk '$3 ~ /slave/' | wc -l
}

# Starts six `redis-server --cluster-enabled yes` on free loopback ports (each with its cluster bus on port+10000
# and a throw-away dir under WORK_DIR), joins them into three masters with one replica each, and waits until every
# node says cluster_state:ok and sees the three replicas. Node timeout 2 s: a dead master is replaced within a few seconds.
start_redis_cluster() {
    local server port ports=() seeds=() node dir i
    server="$(redis_server_binary)"
    port="$REDIS_CLUSTER_PORT"
    for i in 1 2 3 4 5 6; do
        while port_open "$port" || port_open "$((port + 10000))"; do port=$((port + 1)); done
        dir="$WORK_DIR/redis-cluster-$port"
        mkdir -p "$dir"
        "$server" --bind 127.0.0.1 --port "$port" --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" \
            --cluster-node-timeout 2000 --save '' --appendonly no --dir "$dir" --daemonize no \
            --logfile "$dir/redis.log" &
        STARTED_PIDS+=("$!")
        ports+=("$port")
        port=$((port + 1))
    done
    for node in "${ports[@]}"; do
        for _ in $(seq 1 100); do redis_answers "$node" && break; sleep 0.1; done
        redis_answers "$node" || { cat "$WORK_DIR/redis-cluster-$node/redis.log"; exit 1; }
        seeds+=("127.0.0.1:$node")
    done
    note "starting a Redis Cluster on 127.0.0.1:${ports[0]}..${ports[5]} (3 masters, 1 replica each)"
    redis-cli --cluster create "${seeds[@]}" --cluster-replicas 1 --cluster-yes >"$WORK_DIR/redis-cluster.log" 2>&1 \
        || { cat "$WORK_DIR/redis-cluster.log"; exit 1; }
    for node in "${ports[@]}"; do
        for _ in $(seq 1 200); do
            redis-cli -h 127.0.0.1 -p "$node" CLUSTER INFO 2>/dev/null | grep -q '^cluster_state:ok' && break
            sleep 0.1
        done
        redis-cli -h 127.0.0.1 -p "$node" CLUSTER INFO | grep -q '^cluster_state:ok' \
            || { echo "Redis Cluster node $node never reached cluster_state:ok" >&2; cat "$WORK_DIR/redis-cluster.log"; exit 1; }
    done
    # `--cluster create` returns before every replica has attached: wait until each node sees three replicas.
    for node in "${ports[@]}"; do
        for _ in $(seq 1 200); do
            [ "$(cluster_replicas_seen "$node")" = 3 ] && break
            sleep 0.1
        done
        [ "$(cluster_replicas_seen "$node")" = 3 ] \
            || { echo "Redis Cluster node $node does not see three replicas" >&2; exit 1; }
    done
    FARMLOKAL_TEST_REDIS_CLUSTER_NODES="$(printf 'redis://127.0.0.1:%s,' "${ports[@]}")"
    export FARMLOKAL_TEST_REDIS_CLUSTER_NODES="${FARMLOKAL_TEST_REDIS_CLUSTER_NODES%,}"
}

# Makes sure a Redis Cluster answers and exports FARMLOKAL_TEST_REDIS_CLUSTER_NODES.
redis_cluster_up() {
    if [ -n "${FARMLOKAL_TEST_REDIS_CLUSTER_NODES:-}" ]; then
        note "Redis Cluster: $FARMLOKAL_TEST_REDIS_CLUSTER_NODES (given)"
    else
        start_redis_cluster
    fi
}

# Starts one throw-away mariadbd named $1 (data and logs under $WORK_DIR/$1) on a free port from $2 upwards with
# the extra server options that follow; sets MARIADB_PORT. Root logs in over TCP from 127.0.0.1 without a
# password (that grant is kept out of the binary log, so a replica does not replay it).
start_mariadb() {
    local name="$1" from="$2" server install_db client port datadir
    shift 2
    if ! server="$(find_binary mariadbd)"; then
        note "no MariaDB server installed: installing mariadb-server"
        apt_install mariadb-server mariadb-client
        server="$(find_binary mariadbd)"
    fi
    install_db="$(find_binary mariadb-install-db mysql_install_db)"
    client="$(find_binary mariadb mysql)"
    port="$(free_port "$from")"
    datadir="$WORK_DIR/$name"
    "$install_db" --no-defaults --user="$(id -un)" --datadir="$datadir" --auth-root-authentication-method=normal \
        --skip-test-db >"$WORK_DIR/$name-install.log" 2>&1 || { cat "$WORK_DIR/$name-install.log"; exit 1; }
    "$server" --no-defaults --user="$(id -un)" --datadir="$datadir" --bind-address=127.0.0.1 --port="$port" \
        --socket="$WORK_DIR/$name.sock" --pid-file="$WORK_DIR/$name.pid" --log-error="$WORK_DIR/$name.err" \
        --innodb-buffer-pool-size=64M --max-connections=300 "$@" 2>"$WORK_DIR/$name.stderr" &
    STARTED_PIDS+=("$!")
    for _ in $(seq 1 600); do
        if "$client" --socket="$WORK_DIR/$name.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1; then break; fi
        kill -0 "${STARTED_PIDS[-1]}" 2>/dev/null || { cat "$WORK_DIR/$name.err"; exit 1; }
        sleep 0.1
    done
    "$client" --socket="$WORK_DIR/$name.sock" -uroot -e "SET sql_log_bin = 0; CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
    MARIADB_PORT="$port"
}

# A MariaDB primary (binary log, GTID) and a replica of it (MASTER_USE_GTID=slave_pos), both throw-away.
replication_up() {
    local client primary replica
    if [ -n "${FARMLOKAL_TEST_MYSQL_PRIMARY_URL:-}" ] && [ -n "${FARMLOKAL_TEST_MYSQL_REPLICA_URL:-}" ]; then
        note "MySQL replication: $FARMLOKAL_TEST_MYSQL_PRIMARY_URL -> $FARMLOKAL_TEST_MYSQL_REPLICA_URL (given)"
        return 0
    fi
    start_mariadb primary 3407 --server-id=1 --log-bin=primary-bin --binlog-format=MIXED
    primary="$MARIADB_PORT"
    start_mariadb replica $((primary + 1)) --server-id=2 --read-only=ON --relay-log=replica-relay \
        --slave-net-timeout=10
    replica="$MARIADB_PORT"
    client="$(find_binary mariadb mysql)"
    "$client" --socket="$WORK_DIR/primary.sock" -uroot -e "SET sql_log_bin = 0; \
        CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED BY 'repl'; \
        GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';"
    "$client" --socket="$WORK_DIR/replica.sock" -uroot -e "CHANGE MASTER TO MASTER_HOST='127.0.0.1', \
        MASTER_PORT=$primary, MASTER_USER='repl', MASTER_PASSWORD='repl', MASTER_USE_GTID=slave_pos, \
        MASTER_CONNECT_RETRY=1; START SLAVE;"
    for _ in $(seq 1 100); do
        if "$client" --socket="$WORK_DIR/replica.sock" -uroot -e 'SHOW SLAVE STATUS\G' 2>/dev/null \
            | grep -q 'Slave_SQL_Running: Yes'; then break; fi
        sleep 0.1
    done
    "$client" --socket="$WORK_DIR/replica.sock" -uroot -e 'SHOW SLAVE STATUS\G' | grep -q 'Slave_IO_Running: Yes' \
        || { "$client" --socket="$WORK_DIR/replica.sock" -uroot -e 'SHOW SLAVE STATUS\G'; exit 1; }
    note "MySQL replication: primary 127.0.0.1:$primary -> replica 127.0.0.1:$replica (GTID)"
    export FARMLOKAL_TEST_MYSQL_PRIMARY_URL="mysql://root@127.0.0.1:$primary"
    export FARMLOKAL_TEST_MYSQL_REPLICA_URL="mysql://root@127.0.0.1:$replica"
}
