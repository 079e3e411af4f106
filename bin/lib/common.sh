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
# The "running in ..." line goes to stderr, so that a script's stdout (bin/db-connect -c ...) pipes cleanly.
choose_url() {
  choose_url_of CONNECTION_URL "$@"
}

# As choose_url, for the scripts that change the schema or load rows into it (bin/db-schema-load, bin/db-seed): the
# migration role's MIGRATION_CONNECTION_URL (PROD_MIGRATION_CONNECTION_URL with prod) when set, else as choose_url.
choose_migration_url() {
  local name=MIGRATION_CONNECTION_URL
  [ "${1:-}" = "prod" ] && name=PROD_MIGRATION_CONNECTION_URL
  if [ -n "${!name:-}" ]; then
    choose_url_of MIGRATION_CONNECTION_URL "$@"
  else
    choose_url_of CONNECTION_URL "$@"
  fi
}

choose_url_of() { # MIGRATION_CONNECTION_URL|CONNECTION_URL [prod]
  local name="$1"
  shift
  PROD=0
  URL_ARGS=0
  if [ "${1:-}" = "prod" ]; then
    PROD=1
    URL_ARGS=1
    name="PROD_$name"
    echo "running in production" >&2
    CON_URL="${!name:-}"
    [ -n "$CON_URL" ] || fail "$name is not set (postgresql://user:password@host:5432/cruddur)."
  else
    echo "running in development" >&2
    CON_URL="${!name:-}"
    [ -n "$CON_URL" ] || fail "$name is not set: export $name=postgresql://user:password@host:5432/cruddur (bin/up's own cluster: postgresql://postgres:password@127.0.0.1:15432/cruddur)."
  fi
  case "$CON_URL" in
    postgresql://* | postgres://*) ;;
    *) fail "$name must start with postgresql:// (postgresql://user:password@host:5432/cruddur)." ;;
  esac
  CON_URL=$(url_with_tls "$CON_URL")
}

# The URL with TLS as the .NET side makes it (ConnectionUrl.cs, DatabaseTls.cs): for a host other than this machine,
# sslmode=verify-full against DB_CA_BUNDLE when that is set (whatever the URL said), else sslmode=require unless the URL
# names an sslmode (psql's own default, prefer, would fall back to plain text). On this machine a URL that asks for
# verify-ca or verify-full gets DB_CA_BUNDLE as its root certificate.
url_with_tls() {
  local url="$1" host="${1#*://}"
  host="${host%%\?*}"
  host="${host##*@}"
  host="${host%%/*}"
  case "$host" in
    \[*\]*) host="${host%%]*}" host="${host#[}" ;; # [::1]:5432
    *) host="${host%%:*}" ;;
  esac
  local local_host=0
  case "$host" in "" | localhost | 127.* | ::1 | /*) local_host=1 ;; esac
  if [ -n "${DB_CA_BUNDLE:-}" ]; then
    [ -f "$DB_CA_BUNDLE" ] || fail "DB_CA_BUNDLE: no file at '$DB_CA_BUNDLE' (the server's CA bundle, for RDS https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem)."
    if [ "$local_host" = 0 ]; then
      url=$(url_without_parameter "$url" sslmode)
      url=$(url_with_parameter "$url" sslmode verify-full)
    fi
    case "$url" in
      *sslmode=verify-*) case "$url" in *sslrootcert=*) ;; *) url=$(url_with_parameter "$url" sslrootcert "$(realpath "$DB_CA_BUNDLE")") ;; esac ;;
    esac
    printf '%s\n' "$url"
    return
  fi
  case "$url" in *sslmode=*) printf '%s\n' "$url"; return ;; esac
  if [ "$local_host" = 1 ]; then printf '%s\n' "$url"; else url_with_parameter "$url" sslmode require; fi
}

# The URL with NAME=VALUE appended to its query (VALUE percent-encoded).
url_with_parameter() { # url, name, value
  local value="" byte i LC_ALL=C
  for ((i = 0; i < ${#3}; i++)); do
    byte="${3:i:1}"
    case "$byte" in
      [a-zA-Z0-9._~/-]) value+="$byte" ;;
      *) printf -v byte '%%%02X' "'$byte"; value+="$byte" ;;
    esac
  done
  case "$1" in *\?*) printf '%s&%s=%s\n' "$1" "$2" "$value" ;; *) printf '%s?%s=%s\n' "$1" "$2" "$value" ;; esac
}

# The URL without its NAME parameter.
url_without_parameter() { # url, name
  local url="$1" name="$2" query kept="" pair
  case "$url" in *\?*) ;; *) printf '%s\n' "$url"; return ;; esac
  query="${url#*\?}"
  local IFS='&'
  for pair in $query; do
    case "$pair" in "$name="* | "$name") ;; *) kept="${kept:+$kept&}$pair" ;; esac
  done
  printf '%s%s\n' "${url%%\?*}" "${kept:+?$kept}"
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

# A loopback port nothing listens on, below the kernel's ephemeral range: a port in that range can be taken by an outgoing
# connection (a load generator's, a pool's) between this check and the server's bind (a bench run failed so, 2026-12-07).
free_port() {
  local low port
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || low=32768
  [ "$low" -gt 12000 ] || low=32768
  for _ in $(seq 1 100); do
    port=$((10000 + RANDOM % (low - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  fail "no free port found"
}

# The URL with its password hidden, for messages.
# The last '@' ends the user info, even after an unencoded '@', '/' or '?' in the password (an '@' in the query hides
# more, never less).
url_redacted() {
  printf '%s\n' "$1" | sed -E -e 's#^([a-z]+://[^:/@]*:).*@#\1***@#' -e 's#([?&](password|passfile)=)[^&]*#\1***#gI'
}

# Fails with a clear message unless the server behind a URL answers.
require_server() {
  local url="$1" out
  if ! out=$(db_psql "$url" -X -q -t -c 'SELECT 1' 2>&1 >/dev/null); then
    case "$out" in
      *certificate*) fail "PostgreSQL at $(url_redacted "$url") was refused: its certificate did not verify (DB_CA_BUNDLE=${DB_CA_BUNDLE:-unset}). Is DB_CA_BUNDLE the CA bundle of that server (for RDS, global-bundle.pem), and the URL's host the name on its certificate? ${out//$'\n'/ }" ;;
      *) fail "cannot reach PostgreSQL at $(url_redacted "$url"): ${out//$'\n'/ }" ;;
    esac
  fi
}

# The URL's password, percent-decoded (empty when it has none).
url_password() {
  local rest="${1#*://}"
  case "$rest" in *@*) ;; *) return 0 ;; esac
  local userinfo="${rest%@*}" # the last '@' ends the user info, as in url_redacted
  case "$userinfo" in *:*) ;; *) return 0 ;; esac
  case "${userinfo%%:*}" in *@* | */*) return 0 ;; esac # that ':' is a port's: no password
  local password="${userinfo#*:}"
  password="${password//\\/\\\\}" # a literal backslash stays one
  printf '%b' "${password//%/\\x}"
}

# The SCRAM-SHA-256 verifier of the password on standard input, as PostgreSQL stores it: ALTER ROLE ... PASSWORD with it
# never puts the password itself in a statement, which the server logs with log_statement=ddl (common on RDS) or when
# it fails. Empty for a password that is not printable ASCII, whose SASLprep normalization this does not do.
scram_verifier() {
  python3 -c '
import base64, hashlib, hmac, os, sys
password = sys.stdin.read()
if not password or not all(32 <= ord(c) < 127 for c in password):
    sys.exit(0)
salt, iterations = os.urandom(16), 4096
salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
client_key = hmac.new(salted, b"Client Key", "sha256").digest()
server_key = hmac.new(salted, b"Server Key", "sha256").digest()
b64 = lambda b: base64.b64encode(b).decode()
print(f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}")
'
}

# The same URL without its password (the user kept), for a command line that any local user can read in ps.
url_without_password() {
  local url="$1" scheme="${1%%://*}" rest="${1#*://}"
  [ -n "$(url_password "$url")" ] || { printf '%s\n' "$url"; return; }
  local userinfo="${rest%@*}" hostpart="${rest##*@}" # the last '@' ends the user info, as in url_password
  printf '%s://%s@%s\n' "$scheme" "${userinfo%%:*}" "$hostpart"
}

# psql on a URL, its password handed over in psql's environment (PGPASSWORD, which only its user and root can read),
# never on the command line, where /proc/*/cmdline shows it to every local user. Usage: db_psql URL [psql args...]
# With DATABASE_AUTH=iam the password is an RDS IAM token from the aws CLI (rds_auth_token).
db_psql() {
  local url="$1" password
  shift
  case "${url#*\?}" in
    "$url") ;;
    password=* | *\&password=* | passfile=* | *\&passfile=*)
      fail "the database URL $(url_redacted "$url") has its password in the query; put it in the user info (postgresql://user:password@host/db), as the Api and the Worker take it." ;;
  esac
  case "${DATABASE_AUTH:-password}" in
    password) password=$(url_password "$url") ;;
    iam)
      [ -z "$(url_password "$url")" ] || fail "DATABASE_AUTH=iam, but the database URL $(url_redacted "$url") carries a password: leave it out (the password is an RDS IAM token)."
      password=$(rds_auth_token "$url") || fail "could not make an RDS IAM token for $(url_redacted "$url") (aws rds generate-db-auth-token: are AWS credentials and AWS_REGION set?)"
      ;;
    *) fail "DATABASE_AUTH must be password or iam, not '${DATABASE_AUTH}'." ;;
  esac
  if [ -n "$password" ]; then
    PGPASSWORD="$password" psql "$(url_without_password "$url")" "$@"
  else
    psql "$url" "$@" # no password in the URL: psql's own ways (PGPASSWORD, ~/.pgpass) stay as the user set them
  fi
}

# An RDS IAM authentication token for the URL's host, port and user (15 minutes long), made by the aws CLI from its
# credential chain in AWS_REGION: what the Api and the Worker make with the AWS SDK (RdsAuthTokenGenerator.cs).
rds_auth_token() {
  local rest="${1#*://}" user hostport host port=5432
  rest="${rest%%\?*}"
  rest="${rest%%/*}"
  case "$rest" in *@*) user="${rest%@*}" hostport="${rest##*@}" ;; *) fail "the database URL names no user, which an RDS IAM token is for." ;; esac
  user="${user%%:*}"
  user=$(printf '%b' "${user//%/\\x}")
  case "$hostport" in
    \[*\]:*) host="${hostport%]*}" host="${host#[}" port="${hostport##*]:}" ;;
    \[*\]) host="${hostport%]}" host="${host#[}" ;;
    *:*) host="${hostport%:*}" port="${hostport##*:}" ;;
    *) host="$hostport" ;;
  esac
  command -v aws >/dev/null 2>&1 || fail "aws CLI not found: DATABASE_AUTH=iam takes its tokens from it (pip install awscli)."
  aws rds generate-db-auth-token --hostname "$host" --port "$port" --username "$user" --region "$(aws_region)"
}

# Runs `Cruddur.Worker migrate ...` against CON_URL: the same migrator and journal the Worker uses at startup.
# CRUDDUR_WORKER_DLL points at a built Cruddur.Worker.dll; otherwise dotnet run builds it (Release, as bin/up and
# bin/test build it, so it is usually up to date).
# --no-launch-profile: the Worker's launchSettings.json points at bin/up's database, and dotnet run would let it
# replace the CONNECTION_URL given here (bin/db-schema-load prod migrated the local database instead of production).
run_migrator() {
  if [ -n "${CRUDDUR_WORKER_DLL:-}" ]; then
    MIGRATION_CONNECTION_URL="$CON_URL" CONNECTION_URL="$CON_URL" dotnet "$CRUDDUR_WORKER_DLL" migrate "$@"
  else
    echo "building the migrator (src/Worker, Release; minutes on a first run)..." >&2
    MIGRATION_CONNECTION_URL="$CON_URL" CONNECTION_URL="$CON_URL" dotnet run --project "$ROOT/src/Worker" -c Release --no-launch-profile --verbosity quiet -- migrate "$@"
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

# The region the aws CLI acts in: AWS_REGION, else AWS_DEFAULT_REGION, else the CLI profile's, else us-east-1. The
# profile's counts: a script must not act on an instance of another region than the operator's own commands do.
aws_region() {
  local region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
  [ -n "$region" ] || region=$(aws configure get region 2>/dev/null || true)
  printf '%s\n' "${region:-us-east-1}"
}

# Runs the aws CLI in aws_region and, when AWS_ENDPOINT_URL is set, against that endpoint
# (an emulator such as moto_server): the aws CLI v1 ignores that variable for some services.
aws_cli() {
  command -v aws >/dev/null 2>&1 || fail "aws CLI not found: pip install awscli (or see https://aws.amazon.com/cli/)."
  AWS_CLI_REGION="${AWS_CLI_REGION:-$(aws_region)}"
  local args=(--region "$AWS_CLI_REGION")
  [ -n "${AWS_ENDPOINT_URL:-}" ] && args+=(--endpoint-url "$AWS_ENDPOINT_URL")
  aws "${args[@]}" "$@"
}

# The aws CLI's sqs commands, as aws_cli: aws_sqs create-queue --queue-name x
aws_sqs() {
  aws_cli sqs "$@"
}

# Installs the apt packages a script needs when they are missing (as root), or fails naming the exact command.
# Every entry script calls it first, so bin/up and bin/test work on a bare Debian machine of this kind.
#   require_prerequisites            PostgreSQL's tools, psql, curl, jq, zip, moto_server and the aws CLI
#   require_prerequisites --browser  also headless Chromium and a font (the dashboard's browser test)
#   require_prerequisites --faults   also tc (the failover and silent-network tests drop packets on loopback with it)
#   require_prerequisites --bench    also pgbench's package and wrk
#   require_prerequisites --soak     also gnuplot (bin/soak's chart)
require_prerequisites() {
  command -v dotnet >/dev/null 2>&1 \
    || fail "dotnet not found: install the .NET 10 SDK (https://learn.microsoft.com/dotnet/core/install/linux-debian)."
  local missing=() extra
  if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    missing+=(postgresql)
  fi
  command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
  command -v jq >/dev/null 2>&1 || missing+=(jq)     # bin/sqs-send-cognito-event builds JSON with it
  command -v curl >/dev/null 2>&1 || missing+=(curl) # bin/up waits for the Api with it
  command -v zip >/dev/null 2>&1 || missing+=(zip)    # bin/cognito-trigger-deploy packages the function with it
  for extra in "$@"; do
    case "$extra" in
      --browser) command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core) ;;
      --faults) [ -x /usr/sbin/tc ] || missing+=(iproute2) ;;
      --tests) # the fixtures stop servers with pgrep and kill, and make certificates with openssl
        command -v pgrep >/dev/null 2>&1 && [ -x /bin/kill ] || missing+=(procps)
        command -v openssl >/dev/null 2>&1 || missing+=(openssl)
        ;;
      --bench)
        command -v wrk >/dev/null 2>&1 || missing+=(wrk)
        command -v pgbench >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1 || missing+=(postgresql-contrib)
        ;;
      --soak) command -v gnuplot >/dev/null 2>&1 || missing+=(gnuplot-nox) ;;
      *) fail "require_prerequisites: unknown option $extra" ;;
    esac
  done
  if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "missing packages: ${missing[*]}; run as root, or: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    echo "installing: ${missing[*]}"
    # apt's lists may be stale or absent on a fresh machine: update once before installing.
    # Another apt run (an unattended upgrade, a parallel script) may hold the lists' lock for a while: wait for it
    # (DPkg::Lock::Timeout covers dpkg's lock, not the lists').
    local attempt errors
    errors=$(mktemp)
    for attempt in $(seq 1 60); do
      apt-get -o DPkg::Lock::Timeout=600 update -qq 2>"$errors" && break
      grep -q 'Could not get lock' "$errors" || { cat "$errors" >&2; break; }
      [ "$attempt" = 1 ] && echo "waiting for another apt-get to finish..."
      sleep 5
    done
    rm -f "$errors"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || fail "could not install ${missing[*]} (apt-get install -y ${missing[*]})"
  fi
  # The AWS emulator and CLI come with this kind of machine (Python packages; PyPI is not reachable from here).
  command -v moto_server >/dev/null 2>&1 || fail "moto_server not found: pip install 'moto[server]' (the tests and bin/up start it as their AWS emulator)."
  command -v aws >/dev/null 2>&1 || fail "aws CLI not found: pip install awscli (the bin/sqs-* and bin/rds-* scripts use it)."
  find_postgres_tools
}
