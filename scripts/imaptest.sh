#!/usr/bin/env bash
# Runs Dovecot's imaptest against a throwaway Caduceus node, in both modes:
#   scripted: imaptest test=FILE for each group of its src/tests folder,
#             printing pass / FAIL / skip per group and the total;
#   stress:   10 clients, 4 users, 20 s, imaptest's default command mix,
#             printing operations per second and the errors imaptest reported.
#
# imaptest is built into a cache folder outside the repository
# (${XDG_CACHE_HOME:-~/.cache}/caduceus-imaptest), from, in this order:
#   - IMAPTEST_SRC, a source tree of imaptest (an autotools checkout, or a tree
#     with a plain src/Makefile);
#   - the cache's src/ folder, if a previous run or a person left one there;
#   - git clone https://github.com/dovecot/imaptest, where the network allows.
# It needs Dovecot's headers and libdovecot (Debian's dovecot-dev), which the
# script installs with apt-get when missing. CI does not run this script.
#
# Usage: scripts/imaptest.sh [scripted|stress|both]   (default: both)
# Environment:
#   IMAPTEST_SRC      imaptest source tree (see above)
#   IMAPTEST_TESTS    folder of scripted groups (default: the source's src/tests)
#   IMAPTEST_GROUPS   space-separated group names to run (default: all)
#   IMAPTEST_SECS     stress duration in seconds (default: 20)
#   IMAPTEST_TARGET   host:port of an already running IMAPS server to test
#                     instead of starting a Caduceus node (users u1..u4 and
#                     imaptest, imaptest2 @example.test, password below)
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-both}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/caduceus-imaptest
work=${IMAPTEST_WORK:-/tmp/caduceus-imaptest}
pass=imaptest-pass-123
domain=example.test

mkdir -p "${IMAPTEST_WORK:-/tmp/caduceus-imaptest}"
log() { printf '==> %s\n' "$*" >&2; }

ensure_dovecot_dev() {
	if [ -f /usr/lib/dovecot/dovecot-config ] && [ -d /usr/include/dovecot ]; then return; fi
	log "installing dovecot-dev (headers and libdovecot for imaptest)"
	apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-dev build-essential >/dev/null
}

# build_imaptest SRC: builds SRC into $cache/bin/imaptest.
build_imaptest() {
	local src=$1
	mkdir -p "$cache/bin"
	if [ -f "$src/src/Makefile" ] && [ ! -f "$src/configure.ac" ]; then
		make -s -C "$src/src" >&2
	else
		if ! command -v autoreconf >/dev/null; then
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq autoconf automake libtool pkg-config >/dev/null
		fi
		(cd "$src" && { [ -x ./configure ] || ./autogen.sh; } &&
			./configure -q --with-dovecot=/usr/lib/dovecot && make -s) >&2
	fi
	cp "$src/src/imaptest" "$cache/bin/imaptest"
}

find_source() {
	if [ -n "${IMAPTEST_SRC:-}" ]; then echo "$IMAPTEST_SRC"; return; fi
	if [ -d "$cache/src/src" ]; then echo "$cache/src"; return; fi
	log "cloning imaptest into $cache/src"
	git clone -q https://github.com/dovecot/imaptest "$cache/src" >&2
	echo "$cache/src"
}

ensure_dovecot_dev
src=$(find_source)
if [ ! -x "$cache/bin/imaptest" ] || [ -n "$(find "$src/src" -newer "$cache/bin/imaptest" -name '*.[ch]' | head -n 1)" ]; then
	log "building imaptest from $src"
	build_imaptest "$src"
fi
imaptest=$cache/bin/imaptest
tests=${IMAPTEST_TESTS:-$src/src/tests}

node_pid=
cleanup() {
	if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [ -n "${IMAPTEST_TARGET:-}" ]; then
	host=${IMAPTEST_TARGET%:*}; port=${IMAPTEST_TARGET##*:}
else
	host=127.0.0.1; port=${IMAPTEST_PORT:-19994}
	rm -rf "$work"; mkdir -p "$work/data"
	log "building caduceus"
	go build -o "$work/caduceus" ./cmd/caduceus
	cat >"$work/caduceus.toml" <<EOF
hostname = "imaptest.$domain"
data_dir = "$work/data"

[listen]
imaps = "$host:$port"

[imap]
command_rate = 100000
max_conns_per_ip = 5000

# imaptest logs in with one password for every user: let mail clients use
# the account password (production asks for a device credential instead).
[auth]
account_password_for_mail = true
EOF
	"$work/caduceus" domain add "$domain" --config "$work/caduceus.toml" >/dev/null
	for u in imaptest imaptest2 u1 u2 u3 u4; do
		echo "$pass" | "$work/caduceus" user add "$u@$domain" --name "$u" --password-stdin --config "$work/caduceus.toml" >/dev/null
	done
	"$work/caduceus" serve --config "$work/caduceus.toml" >"$work/serve.log" 2>&1 &
	node_pid=$!
	for _ in $(seq 1 50); do
		if grep -q '"caduceus started"' "$work/serve.log" 2>/dev/null; then break; fi
		sleep 0.2
	done
	log "caduceus node on $host:$port (log: $work/serve.log)"
fi

run_scripted() {
	local groups passed=0 failed=0 skipped=0 out res line
	groups=${IMAPTEST_GROUPS:-$(ls "$tests" | grep -v '\.mbox$' | sort)}
	out=$work/scripted.log
	: >"$out"
	for g in $groups; do
		res=$(timeout 120 "$imaptest" host="$host" port="$port" ssl \
			user="imaptest@$domain" user2="imaptest2@$domain" pass="$pass" \
			test="$tests/$g" 2>&1 || true)
		printf '=== %s\n%s\n' "$g" "$res" >>"$out"
		line=$(grep 'test groups:' <<<"$res" || true)
		# A group skipped for a missing capability ran no command (0/0 in
		# both counts), whether or not imaptest counted it as skipped.
		if grep -q ' 0 failed, 1 skipped' <<<"$line" ||
			{ grep -q 'base protocol: 0/0 ' <<<"$res" && grep -q 'extensions: 0/0 ' <<<"$res"; }; then
			printf '%-34s skip\n' "$g"; skipped=$((skipped + 1))
		elif grep -q ' 0 failed, 0 skipped' <<<"$line"; then
			printf '%-34s pass\n' "$g"; passed=$((passed + 1))
		else
			printf '%-34s FAIL\n' "$g"; failed=$((failed + 1))
		fi
	done
	printf 'scripted: %d passed, %d failed, %d skipped of %d groups (details: %s)\n' \
		"$passed" "$failed" "$skipped" "$((passed + failed + skipped))" "$out"
}

run_stress() {
	local secs=${IMAPTEST_SECS:-20} out=$work/stress.log mbox=$work/stress.mbox total ops errors
	cat "$tests"/*.mbox >"$mbox"
	"$imaptest" host="$host" port="$port" ssl user="u%d@$domain" pass="$pass" \
		users=4 clients=10 secs="$secs" mbox="$mbox" >"$out" 2>&1 || true
	# imaptest ends with "Totals:", the state names, their probabilities
	# and, last, the count of each state's operations.
	total=$(grep -v '^$' "$out" | tail -n 1 | awk '{s=0; for(i=1;i<=NF;i++) s+=$i; print s}')
	total=${total:-0}
	ops=$(awk -v t="$total" -v s="$secs" 'BEGIN{printf "%.0f", t/s}')
	errors=$(grep -c -E '^(Error|Panic|Fatal):' "$out" || true)
	printf 'stress: %s operations in %ss = %s ops/s, %s errors (details: %s)\n' "$total" "$secs" "$ops" "$errors" "$out"
	if [ "$errors" -gt 0 ]; then
		grep -E '^(Error|Panic|Fatal):' "$out" | sed -E 's/[0-9]+/N/g' | sort | uniq -c | sort -rn | head -n 10
	fi
}

case $mode in
scripted) run_scripted ;;
stress) run_stress ;;
both) run_scripted; run_stress ;;
*) echo "usage: $0 [scripted|stress|both]" >&2; exit 2 ;;
esac
