#!/usr/bin/env bash
# The HTTP pipeline and token checking (issues 2 and 3 "Measure"), in rounds:
#   bench_hello (bare libmicrohttpd, same mode and THREADS)  — the ceiling
#   GET /health                   ratio to bench_hello        (target >= 0.8)
#   GET /api/v1/drivers/me as the admin: 403 from the auth gate (token check,
#       principal cache, rate limit in Redis) without a handler: where the
#       time of an authenticated request goes (no target)
#   GET /api/v1/auth/me (token)   ratio to /health            (target >= 0.8)
# all wrk -t2 -c64, back to back in the same round; then
#   POST /api/v1/auth/login with a valid password, wrk -t2 -c4: logins/s
#   (argon2id, libsodium INTERACTIVE: 64 MiB, deliberately slow), against
#   bench_argon2: bare verifications/s with 4 threads (deliveryd lets 4
#   hashes run at once).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
bench_attach
SUITE=health
THREADS=${THREADS:-8}

TOKEN=$(admin_token)
export TOKEN
hello_start "$THREADS"
for round in $(seq 1 "$BENCH_ROUNDS"); do
  read -r h_rps h_p50 h_p99 h_err <<<"$(TOKEN='' wrk_run "hello-r$round" 64 get.lua "http://127.0.0.1:$HELLO_PORT/health")"
  record $SUITE "bench_hello" "$round" "$h_rps" "$h_p50" "$h_p99" "$h_err"
  read -r d_rps d_p50 d_p99 d_err <<<"$(TOKEN='' wrk_run "health-r$round" 64 get.lua "$BASE/health")"
  record $SUITE "/health" "$round" "$d_rps" "$d_p50" "$d_p99" "$d_err"
  read -r g_rps g_p50 g_p99 _ <<<"$(WRK_EXPECT_ERRORS=1 wrk_run "gate-r$round" 64 get.lua "$BASE/api/v1/drivers/me")"
  record $SUITE "auth gate only (403)" "$round" "$g_rps" "$g_p50" "$g_p99" "-"
  read -r m_rps m_p50 m_p99 m_err <<<"$(wrk_run "me-r$round" 64 get.lua "$BASE/api/v1/auth/me")"
  record $SUITE "/api/v1/auth/me" "$round" "$m_rps" "$m_p50" "$m_p99" "$m_err"
  r1=$(record_ratio $SUITE "/health / bench_hello" "$round" "$d_rps" "$h_rps" ">= 0.8")
  r2=$(record_ratio $SUITE "/auth/me / /health" "$round" "$m_rps" "$d_rps" ">= 0.8")
  r3=$(record_ratio $SUITE "auth gate (403) / /health" "$round" "$g_rps" "$d_rps" "-")
  blog "round $round: hello $(fmt0 "$h_rps") | /health $(fmt0 "$d_rps") ($r1 of hello) | auth gate $(fmt0 "$g_rps") ($r3) | /auth/me $(fmt0 "$m_rps") ($r2 of /health) req/s"
done
hello_stop

export LOGIN_USER=$BENCH_ADMIN_USER LOGIN_PASSWORD=$ADMIN_PASS
for round in $(seq 1 "$BENCH_ROUNDS"); do
  read -r _ a_rate a_ms <<<"$(THREADS=4 SECONDS=$BENCH_DURATION "$BENCH_ARGON2_BIN" | grep '^RESULT')"
  record $SUITE "bench_argon2 verifies (4 threads)" "$round" "$a_rate" "$a_ms" "-" "0"
  read -r l_rps l_p50 l_p99 l_err <<<"$(TOKEN='' wrk_run "login-r$round" 4 login.lua "$BASE/api/v1/auth/login")"
  record $SUITE "/api/v1/auth/login (c4)" "$round" "$l_rps" "$l_p50" "$l_p99" "$l_err"
  r4=$(record_ratio $SUITE "logins / bench_argon2" "$round" "$l_rps" "$a_rate" "-")
  blog "round $round: logins $l_rps/s (p50 $l_p50 ms, p99 $l_p99 ms) | bare argon2id $a_rate/s ($a_ms ms each) | ratio $r4"
done
# each login stored a refresh token; keep the table small for what follows
psql_bench -c "DELETE FROM refresh_tokens" >/dev/null

echo
print_table <(awk -F'\t' -v s=$SUITE 'NR == 1 || $1 == s' "$BENCH_RESULTS/results.tsv")
echo
print_table <(awk -F'\t' -v s=$SUITE 'NR == 1 || $1 == s' "$BENCH_RESULTS/ratios.tsv")
