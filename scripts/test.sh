#!/usr/bin/env bash
# Runs every test of Caduceus on a fresh machine: it starts PostgreSQL (or
# installs it) and installs Debian's Chromium, ldap-utils, sieve-connect, python3 (whose
# imaplib is a second IMAP client), libnss3-tools (a CPx card in Chromium),
# Postfix (a second operator for the
# trust-space interop test) and testssl.sh when missing, builds versitygw (the
# S3 server of the blob store's tests) into ~/.cache/caduceus-tools/bin and
# starts it, then runs vet, staticcheck and the whole suite with the race
# detector. The fuzz seed corpora run as
# ordinary tests.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
	log "installing $*"
	as_root apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

postgres_up() {
	pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null
}

ensure_postgres() {
	if [ -n "${CADUCEUS_TEST_POSTGRES:-}" ]; then return; fi
	if postgres_up; then return; fi
	if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
		apt_install postgresql
	fi
	local version
	version=$(ls /etc/postgresql | sort -V | tail -n 1)
	log "starting PostgreSQL $version"
	# Trust local TCP connections for the test databases, as on the dev machines.
	local hba="/etc/postgresql/$version/main/pg_hba.conf"
	if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
		as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
	fi
	as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
	for _ in $(seq 1 30); do postgres_up && return; sleep 1; done
	log "PostgreSQL did not start"; exit 1
}

ensure_tools() {
	local missing=()
	command -v chromium >/dev/null || missing+=(chromium)
	command -v ldapsearch >/dev/null || missing+=(ldap-utils)
	# A ManageSieve client we did not write (internal/managesieve).
	command -v sieve-connect >/dev/null || missing+=(sieve-connect)
	command -v pg_isready >/dev/null || missing+=(postgresql-client)
	command -v python3 >/dev/null || missing+=(python3)
	# certutil and pk12util put a test CPx card in Chromium's NSS database.
	command -v certutil >/dev/null && command -v pk12util >/dev/null || missing+=(libnss3-tools)
	command -v openssl >/dev/null || missing+=(openssl)
	# A real second MSSanté operator for the trust-space interop test, and
	# the TLS scanner behind docs/security.md.
	[ -x /usr/sbin/postfix ] || command -v postfix >/dev/null || missing+=(postfix)
	command -v testssl >/dev/null || command -v testssl.sh >/dev/null || missing+=(testssl.sh)
	if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# The S3 server of the blob tests: versitygw, built from the Go module proxy
# once, serving a temporary folder on loopback for this run. Tests that stop
# their server start their own from the same binary (internal/blob/blobtest).
VERSITYGW=github.com/versity/versitygw/cmd/versitygw@v1.8.0
TOOLS="$HOME/.cache/caduceus-tools/bin"

ensure_s3() {
	if [ -n "${CADUCEUS_TEST_S3:-}" ]; then return; fi
	if [ ! -x "$TOOLS/versitygw" ]; then
		log "building versitygw"
		mkdir -p "$TOOLS"
		(cd /tmp && GOBIN="$TOOLS" GOFLAGS= go install "$VERSITYGW")
	fi
	export PATH="$TOOLS:$PATH"
	S3_DIR=$(mktemp -d)
	mkdir "$S3_DIR/caduceus"
	export AWS_ACCESS_KEY_ID="caduceus-test" AWS_SECRET_ACCESS_KEY="caduceus-test-secret-$RANDOM$RANDOM"
	trap 'kill "${S3_PID:-}" 2>/dev/null || true; rm -rf "$S3_DIR" "$S3_DIR.log"' EXIT
	# A port no other run on this machine holds (another run's server would
	# answer with other credentials).
	local port
	for port in $(seq $((17000 + $$ % 1000)) 10 $((19000 + $$ % 1000))); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then continue; fi
		versitygw --access "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --port "127.0.0.1:$port" --quiet posix "$S3_DIR" >"$S3_DIR.log" 2>&1 &
		S3_PID=$!
		for _ in $(seq 1 50); do
			kill -0 "$S3_PID" 2>/dev/null || break
			if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
				export CADUCEUS_TEST_S3="s3://caduceus?endpoint=127.0.0.1:$port&region=us-east-1&tls=false"
				log "versitygw on 127.0.0.1:$port"
				return
			fi
			sleep 0.2
		done
		kill "$S3_PID" 2>/dev/null || true
	done
	log "versitygw did not start:"; cat "$S3_DIR.log" >&2; exit 1
}

ensure_tools
ensure_postgres
ensure_s3

log "go vet"
go vet ./...
log "staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.7.0 ./...
log "go test -race"
go test -race -count=1 -timeout 40m "$@" ./...
# The packages whose tests run on one engine (SQLite) run again on
# PostgreSQL: the web app and the node as a whole keep their tables there too.
log "go test -race on PostgreSQL (web, server)"
CADUCEUS_TEST_ENGINE=postgres go test -race -count=1 -timeout 40m "$@" ./internal/web ./internal/server
