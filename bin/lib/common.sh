# shellcheck shell=bash
# Shared by the bin/ scripts: the label, errors, the prod switch and URL handling.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

# Prints the seed's coloured "== label" line (plain when not on a terminal or NO_COLOR is set).
label() {
  if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
    printf '\033[1;36m== %s\033[0m\n' "$1"
  else
    printf '== %s\n' "$1"
  fi
}

fail() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# Sets CON_URL from CONNECTION_URL, or from PROD_CONNECTION_URL when the first argument is "prod".
# Sets PROD=1 for prod. Callers then `shift "$URL_ARGS"` to drop the "prod" argument.
choose_url() {
  PROD=0
  URL_ARGS=0
  if [ "${1:-}" = "prod" ]; then
    PROD=1
    URL_ARGS=1
    echo "running in production"
    CON_URL="${PROD_CONNECTION_URL:-}"
    [ -n "$CON_URL" ] || fail "PROD_CONNECTION_URL is not set (postgresql://user:password@host:5432/cruddur)."
  else
    echo "running in development"
    CON_URL="${CONNECTION_URL:-}"
    [ -n "$CON_URL" ] || fail "CONNECTION_URL is not set: export CONNECTION_URL=postgresql://postgres:password@127.0.0.1:5432/cruddur (or run bin/up)."
  fi
  case "$CON_URL" in
    postgresql://* | postgres://*) ;;
    *) fail "the connection URL must start with postgresql:// (postgresql://user:password@host:5432/cruddur)." ;;
  esac
}

# The database named by a URL's path (postgresql://u:p@h:5432/cruddur?sslmode=x -> cruddur).
url_database() {
  local rest="${1#*://}"
  rest="${rest%%\?*}"
  rest="${rest##*@}"
  case "$rest" in
    */*) printf '%s\n' "${rest#*/}" ;;
    *) printf '\n' ;;
  esac
}

# The same URL (credentials and query kept) naming another database.
url_with_database() {
  local url="$1" database="$2" query=""
  case "$url" in *\?*) query="?${url#*\?}" url="${url%%\?*}" ;; esac
  local scheme="${url%%://*}" rest="${url#*://}"
  local userinfo="" hostpart="$rest"
  case "$rest" in *@*) userinfo="${rest%@*}@" hostpart="${rest##*@}" ;; esac
  printf '%s://%s%s/%s%s\n' "$scheme" "$userinfo" "${hostpart%%/*}" "$database" "$query"
}

# The URL with its password hidden, for messages.
url_redacted() {
  printf '%s\n' "$1" | sed -E 's#^([a-z]+://[^:/@]*:)[^@]*@#\1***@#'
}

# Fails with a clear message unless the server behind a URL answers.
require_server() {
  local url="$1" out
  if ! out=$(psql "$url" -X -q -t -c 'SELECT 1' 2>&1 >/dev/null); then
    fail "cannot reach PostgreSQL at $(url_redacted "$url"): ${out//$'\n'/ }"
  fi
}

# Runs `Cruddur.Worker migrate ...` against CON_URL: the same migrator and journal the Worker uses at startup.
# CRUDDUR_WORKER_DLL points at a built Cruddur.Worker.dll (tests and bin/up set it); otherwise dotnet run builds it.
run_migrator() {
  if [ -n "${CRUDDUR_WORKER_DLL:-}" ]; then
    CONNECTION_URL="$CON_URL" dotnet "$CRUDDUR_WORKER_DLL" migrate "$@"
  else
    CONNECTION_URL="$CON_URL" dotnet run --project "$ROOT/src/Worker" --verbosity quiet -- migrate "$@"
  fi
}

# Puts PostgreSQL's server tools (initdb, pg_ctl) on PATH: Debian keeps them in a versioned folder.
find_postgres_tools() {
  if ! command -v initdb >/dev/null 2>&1; then
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$dir" ] && export PATH="$dir:$PATH"
  fi
  command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 \
    || fail "PostgreSQL server tools (initdb, pg_ctl) not found: apt-get install -y postgresql (or run bin/install-prerequisites)."
  command -v psql >/dev/null 2>&1 || fail "psql not found: apt-get install -y postgresql-client."
}

# Runs a command as the postgres user when we are root (PostgreSQL refuses to run as root).
as_postgres() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

# Runs the aws CLI in AWS_REGION (default us-east-1) and, when AWS_ENDPOINT_URL is set, against that endpoint
# (an emulator such as moto_server): the aws CLI v1 ignores that variable for some services.
aws_cli() {
  command -v aws >/dev/null 2>&1 || fail "aws CLI not found: pip install awscli (or see https://aws.amazon.com/cli/)."
  local args=(--region "${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}")
  [ -n "${AWS_ENDPOINT_URL:-}" ] && args+=(--endpoint-url "$AWS_ENDPOINT_URL")
  aws "${args[@]}" "$@"
}

# The aws CLI's sqs commands, as aws_cli: aws_sqs create-queue --queue-name x
aws_sqs() {
  aws_cli sqs "$@"
}
