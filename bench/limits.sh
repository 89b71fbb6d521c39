# The limit rows of bench/run.sh (issue 15), sourced by it after its helpers (measure, start_app, mysql_client):
#   bare   a bare poem handler (examples/bare_page.rs) serving the hot page's exact bytes, beside (a)
#   db     MariaDB alone running the statements the service issued for (b), (c) and (d), with mariadb-slap
#   seed   `farmlokal seed` against LOAD DATA of the same rows plus the same indexes built by ALTER
#   fresh  how long a price change acknowledged by the webhook takes to show, on one and on two instances
# Every function records a "not measured: why" record instead of stopping the run when its limit cannot be had.

# skip NAME WHY: a record the report prints as "not measured: WHY".
skip() {
    python3 bench/tool.py record "$1" "$(python3 -c 'import json,sys; print(json.dumps({"skipped": "not measured: " + sys.argv[1]}))' "$2")" \
        "$RESULTS" >/dev/null
    note "$1: not measured: $2"
}

# --- bare --------------------------------------------------------------------------------------------------
BARE_PID=""
BARE_URL=""
# start_bare: builds examples/bare_page.rs (release, in CARGO_TARGET_DIR) unless BENCH_BARE_BIN names a build,
# fetches the hot page from the running service and serves its bytes and Content-Type. Returns 1 when it cannot.
start_bare() {
    local bin="${BENCH_BARE_BIN:-$CARGO_TARGET_DIR/release/examples/bare_page}" port content_type
    if [ -z "${BENCH_BARE_BIN:-}" ]; then
        nice -n 10 cargo build --release --quiet --example bare_page >"$WORK_DIR/bare-build.log" 2>&1 \
            || { tail -20 "$WORK_DIR/bare-build.log"; BARE_WHY="cargo build --release --example bare_page failed"; return 1; }
    fi
    [ -x "$bin" ] || { BARE_WHY="no executable $bin"; return 1; }
    curl -fsS -D "$WORK_DIR/hot.headers" -o "$WORK_DIR/hot.body" "$APP_URL$HOT_PATH" \
        || { BARE_WHY="the hot page could not be fetched"; return 1; }
    content_type="$(sed -n 's/^[Cc]ontent-[Tt]ype: *//p' "$WORK_DIR/hot.headers" | tr -d '\r')"
    port="$(free_port 18090)"
    BARE_URL="http://127.0.0.1:$port"
    "$bin" "127.0.0.1:$port" "$WORK_DIR/hot.body" "$content_type" >"$WORK_DIR/bare.log" 2>&1 &
    BARE_PID=$!
    STARTED_PIDS+=("$BARE_PID")
    for _ in $(seq 1 100); do
        if curl -fsS -o "$WORK_DIR/bare.body" "$BARE_URL$HOT_PATH" 2>/dev/null; then
            if cmp -s "$WORK_DIR/hot.body" "$WORK_DIR/bare.body"; then
                note "bare page up on $BARE_URL: $(wc -c <"$WORK_DIR/hot.body") bytes, Content-Type $content_type"
                return 0
            fi
            BARE_WHY="the bare handler's body differs from the service's"
            return 1
        fi
        sleep 0.1
    done
    BARE_WHY="the bare handler did not start: $(tail -3 "$WORK_DIR/bare.log")"
    return 1
}
stop_bare() {
    if [ -n "$BARE_PID" ]; then kill "$BARE_PID" 2>/dev/null || true; wait "$BARE_PID" 2>/dev/null || true; fi
    BARE_PID=""
}

# --- db ------------------------------------------------------------------------------------------------------
# MariaDB's general log is switched on (to the mysql.general_log table) only for the capture passes, and the
# server's own settings are put back when they end or the run stops (restore_general_log, from the EXIT trap).
GENERAL_LOG_SAVED=""
general_log_on() {
    if [ -z "$GENERAL_LOG_SAVED" ]; then
        GENERAL_LOG_SAVED="$(mysql_client -e 'SELECT @@general_log, @@log_output, (SELECT COUNT(*) FROM mysql.general_log)')" \
            || return 1
    fi
    mysql_client -e "SET GLOBAL log_output = 'TABLE', GLOBAL general_log = 1"
}
restore_general_log() {
    [ -n "$GENERAL_LOG_SAVED" ] || return 0
    local was_on output rows
    read -r was_on output rows <<<"$GENERAL_LOG_SAVED"
    mysql_client -e "SET GLOBAL general_log = $was_on, GLOBAL log_output = '$output'" || true
    # The log table was empty before this run: leave it empty again (it held only this run's capture).
    if [ "$was_on" = 0 ] && [ "$rows" = 0 ]; then mysql_client -e "TRUNCATE TABLE mysql.general_log" || true; fi
    GENERAL_LOG_SAVED=""
}

CAPTURED=() # "NAME CONCURRENCY" of each captured row, run by slap_rows
# capture_db NAME URLS_FILE N CONCURRENCY: the statements a service issues for the URLs of the row (N: all, or
# the first N). The running service is replaced for the capture by one started after the general log was switched
# on (MariaDB logs a prepared statement's values only when logging was on at its prepare), then started again for
# the next rows.
capture_db() {
    local name="$1" urls="$2" n="$3" conc="$4" summary since
    stop_app
    if general_log_on && since="$(mysql_client -e 'SELECT NOW(6)')"; then
        start_app "capture-$name" 1
        if summary="$(python3 bench/limits.py capture "$APP_URL" "$urls" "$n" "$MYSQL_CMD" "$DATABASE" \
            "$WORK_DIR/db-$name.sql" "$since")"; then
            echo "$summary" >"$WORK_DIR/db-$name.json"
            CAPTURED+=("$name $conc")
            note "db_$name capture: $summary"
        else
            skip "db_$name" "the capture pass failed"
        fi
    else
        skip "db_$name" "MariaDB's general log could not be switched on"
    fi
    restore_general_log
    start_app miss 1
}
# slap_rows: each captured row's statements through mariadb-slap at the row's concurrency (service stopped).
# slap_row NAME CONCURRENCY RECORD: mariadb-slap on the statements captured for row NAME, recorded as RECORD.
slap_row() {
    local name="$1" conc="$2" record="$3"
    python3 bench/tool.py record "$record" "$(python3 bench/limits.py slap "$record" "$WORK_DIR/db-$name.sql" \
        "$conc" "$DURATION" "$SLAP_CMD" "$(cat "$WORK_DIR/db-$name.json")")" "$RESULTS" >/dev/null
    note "$record: $(tail -1 "$RESULTS")"
}
# Every captured row not measured yet (db_b runs in rounds beside (b) when both are selected, see run.sh).
SLAPPED=()
slap_rows() {
    local entry name conc
    for entry in "${CAPTURED[@]}"; do
        read -r name conc <<<"$entry"
        if [[ " ${SLAPPED[*]-} " == *" $name "* ]]; then continue; fi
        slap_row "$name" "$conc" "db_$name"
    done
}

# --- fresh ---------------------------------------------------------------------------------------------------
# fresh_rows: FRESH_CHANGES price changes on one instance, then on two sharing Redis and MySQL (the webhook to
# the first, the reads from the second); both with the default cache TTL.
fresh_rows() {
    local second_pid second_port second_url
    start_app fresh default
    python3 bench/tool.py record fresh_1 "$(python3 bench/limits.py fresh fresh_1 "$APP_URL" "$APP_URL" \
        "$WEBHOOK_SECRET" "$FRESH_CHANGES" "$FRESH_SPREAD" "$FRESH_TIMEOUT" 1)" "$RESULTS" >/dev/null
    note "fresh_1: $(tail -1 "$RESULTS")"
    second_port="$(free_port 18180)"
    second_url="http://127.0.0.1:$second_port"
    FARMLOKAL_BIND="127.0.0.1:$second_port" FARMLOKAL_REDIS_PREFIX="bench:$RUN_ID:fresh:" \
        FARMLOKAL_RATE_LIMIT_PER_MINUTE=0 FARMLOKAL_CURSOR_SECRET="$CURSOR_SECRET" \
        FARMLOKAL_WEBHOOK_SECRETS="$WEBHOOK_SECRET" RUST_LOG=warn "$BIN" serve >"$WORK_DIR/app-fresh-2.log" 2>&1 &
    second_pid=$!
    STARTED_PIDS+=("$second_pid")
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "$second_url/health/ready" 2>/dev/null && break
        sleep 0.1
    done
    if curl -fsS -o /dev/null "$second_url/health/ready" 2>/dev/null; then
        note "second instance up on $second_url (same prefix bench:$RUN_ID:fresh:, pid $second_pid)"
        python3 bench/tool.py record fresh_2 "$(python3 bench/limits.py fresh fresh_2 "$APP_URL" "$second_url" \
            "$WEBHOOK_SECRET" "$FRESH_CHANGES" "$FRESH_SPREAD" "$FRESH_TIMEOUT" 51)" "$RESULTS" >/dev/null
        note "fresh_2: $(tail -1 "$RESULTS")"
    else
        skip fresh_2 "the second instance did not become ready"
    fi
    kill "$second_pid" 2>/dev/null || true
    wait "$second_pid" 2>/dev/null || true
}

# elapsed_since EPOCHREALTIME: seconds since then.
elapsed_since() { python3 -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.3f}")' "$1"; }

# --- seed ----------------------------------------------------------------------------------------------------
# seed_row: `farmlokal seed --products N` into the empty database ${DATABASE}_seed, timed; then its rows dumped
# and loaded by MariaDB's bulk path into an empty copy of the table without secondary indexes (LOAD DATA, with
# unique_checks and foreign_key_checks off as the seeder has them), the same indexes added in one ALTER and the
# table analysed, as the seeder does, timed.
seed_row() {
    local db="${DATABASE}_seed" started seed_s limit_s columns targets nulls adds drops
    mysql_client -e "DROP DATABASE IF EXISTS $db"
    started="$EPOCHREALTIME"
    FARMLOKAL_MYSQL_URL="$MYSQL_BASE/$db$MYSQL_URL_QUERY" "$BIN" seed --products "$PRODUCTS" >"$WORK_DIR/seed-row.log" 2>&1 \
        || { skip seed "farmlokal seed failed: $(tail -1 "$WORK_DIR/seed-row.log")"; return 0; }
    seed_s="$(elapsed_since "$started")"
    local where="TABLE_SCHEMA = '$db' AND TABLE_NAME = 'products'"
    columns="$(mysql_client -e "SET SESSION group_concat_max_len = 65536; SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY
        ORDINAL_POSITION) FROM information_schema.COLUMNS WHERE $where AND EXTRA NOT LIKE '%GENERATED%'")"
    adds="$(mysql_client -e "SET SESSION group_concat_max_len = 65536; SELECT GROUP_CONCAT(def SEPARATOR ', ') FROM
        (SELECT CONCAT('ADD ', IF(INDEX_TYPE = 'FULLTEXT', 'FULLTEXT ', ''), 'INDEX ', INDEX_NAME, ' (',
        GROUP_CONCAT(CONCAT(COLUMN_NAME, IFNULL(CONCAT('(', SUB_PART, ')'), '')) ORDER BY SEQ_IN_INDEX), ')') AS def
        FROM information_schema.STATISTICS WHERE $where AND INDEX_NAME <> 'PRIMARY' GROUP BY INDEX_NAME, INDEX_TYPE) AS d")"
    drops="$(mysql_client -e "SET SESSION group_concat_max_len = 65536; SELECT GROUP_CONCAT(DISTINCT CONCAT('DROP INDEX ',
        INDEX_NAME) SEPARATOR ', ') FROM information_schema.STATISTICS WHERE $where AND INDEX_NAME <> 'PRIMARY'")"
    # The batch client prints NULL as the word NULL: nullable columns load through a variable turned back into NULL.
    targets="$(mysql_client -e "SET SESSION group_concat_max_len = 65536; SELECT GROUP_CONCAT(IF(IS_NULLABLE = 'YES',
        CONCAT('@', COLUMN_NAME), COLUMN_NAME) ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS WHERE $where
        AND EXTRA NOT LIKE '%GENERATED%'")"
    nulls="$(mysql_client -e "SET SESSION group_concat_max_len = 65536; SELECT IFNULL(CONCAT('SET ', GROUP_CONCAT(CONCAT(
        COLUMN_NAME, ' = NULLIF(@', COLUMN_NAME, ', ''NULL'')'))), '') FROM information_schema.COLUMNS WHERE $where
        AND EXTRA NOT LIKE '%GENERATED%' AND IS_NULLABLE = 'YES'")"
    mysql_client --quick "$db" -e "SELECT $columns FROM products" >"$WORK_DIR/products.tsv"
    mysql_client "$db" -e "DROP TABLE IF EXISTS products_limit; CREATE TABLE products_limit LIKE products;
        ALTER TABLE products_limit $drops"
    started="$EPOCHREALTIME"
    mysql_link_client --local-infile=1 "$db" -e "SET SESSION unique_checks = 0, foreign_key_checks = 0;
        LOAD DATA LOCAL INFILE '$WORK_DIR/products.tsv' INTO TABLE products_limit CHARACTER SET utf8mb4 ($targets) $nulls;
        ALTER TABLE products_limit $adds; ANALYZE TABLE products_limit" >"$WORK_DIR/seed-limit.log" 2>&1 \
        || { skip seed "the LOAD DATA path failed: $(tail -1 "$WORK_DIR/seed-limit.log")"; return 0; }
    limit_s="$(elapsed_since "$started")"
    rm -f "$WORK_DIR/products.tsv"
    python3 bench/tool.py record seed "{\"products\": $PRODUCTS, \"seed_s\": $seed_s, \"limit_s\": $limit_s, \
\"rows\": $(mysql_client "$db" -e 'SELECT COUNT(*) FROM products_limit')}" "$RESULTS" >/dev/null
    note "seed: $(tail -1 "$RESULTS")"
    mysql_client -e "DROP DATABASE IF EXISTS $db"
}
