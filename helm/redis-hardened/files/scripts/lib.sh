# Shared shell functions for the redis-hardened start-up scripts (POSIX sh).
# Sourced, never run. Inputs come from the environment the pod spec sets;
# tests/iac/test_helm.py sets the same variables to run these scripts against
# local redis-server processes.
#
#   SECRET_DIR     one file per password: admin-password, app-password, ...
#   TLS_DIR        tls.crt, tls.key, ca.crt; empty when TLS is off
#   QUERY_TIMEOUT  seconds one query to a peer may take (default 3)

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# secret NAME: the password stored under NAME, without a trailing newline.
secret() {
  [ -r "$SECRET_DIR/$1" ] || die "secret key '$1' not found in $SECRET_DIR"
  [ -s "$SECRET_DIR/$1" ] || die "secret key '$1' is empty"
  cat "$SECRET_DIR/$1"
}

# acl_hash PASSWORD: the `#<sha256>` form ACL files take instead of a password.
acl_hash() {
  printf '#%s' "$(printf '%s' "$1" | sha256sum | cut -d' ' -f1)"
}

# conf_quote VALUE: VALUE as a double-quoted redis.conf string.
conf_quote() {
  printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

# json_quote VALUE: VALUE as a JSON string.
json_quote() {
  printf '"%s"' "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

# Every fill below writes directive lines only: a comment that names a
# placeholder (the policy files explain theirs) never receives a value, least
# of all a secret.

# fill_hashes FILE: replaces every {{NAME_PASSWORD}} placeholder in FILE with
# the ACL hash of the Secret key name-password (lower case, '_' -> '-').
fill_hashes() {
  for ph in $(grep -v '^[[:space:]]*#' "$1" | grep -o '{{[A-Z_]*_PASSWORD}}' | sort -u); do
    name=$(printf '%s' "$ph" | tr -d '{}' | tr 'A-Z_' 'a-z-')
    # Plain assignments, so that `set -e` stops on a missing key.
    password=$(secret "$name")
    hash=$(acl_hash "$password")
    sed -i "/^[[:space:]]*#/!s/$ph/$hash/g" "$1"
  done
}

# Line breaks: conf_quote leaves them raw, and a raw one ends the directive.
_newline='
'
_return=$(printf '\r')

# fill_secrets FILE: replaces every {{NAME_SECRET}} placeholder in FILE with
# the clear-text password of the Secret key name-password as a quoted
# redis.conf string (masterauth, Sentinel's auth-pass and sentinel-pass have
# no hashed form). The value reaches awk through its environment, never argv,
# and is matched as a literal string, so no character of it is special.
fill_secrets() {
  for ph in $(grep -v '^[[:space:]]*#' "$1" | grep -o '{{[A-Z_]*_SECRET}}' | sort -u); do
    name=$(printf '%s' "$ph" | tr -d '{}' | sed 's/_SECRET$/_PASSWORD/' | tr 'A-Z_' 'a-z-')
    password=$(secret "$name")
    case "$password" in
      *"$_newline"* | *"$_return"*) die "secret key '$name' holds a line break, which cannot go into a config file" ;;
    esac
    quoted=$(conf_quote "$password")
    FILL_PH="$ph" FILL_VALUE="$quoted" awk '
      BEGIN { ph = ENVIRON["FILL_PH"]; value = ENVIRON["FILL_VALUE"] }
      /^[ \t]*#/ { print; next }
      {
        out = ""; rest = $0
        while ((i = index(rest, ph)) > 0) {
          out = out substr(rest, 1, i - 1) value
          rest = substr(rest, i + length(ph))
        }
        print out rest
      }' "$1" > "$1.fill"
    mv "$1.fill" "$1"
  done
}

# fill FILE NAME VALUE: replaces {{NAME}} with VALUE (host names, numbers).
fill() {
  case "$3" in *[!A-Za-z0-9.:_-]*) die "refusing to write '$3' into $1" ;; esac
  sed -i "/^[[:space:]]*#/!s/{{$2}}/$3/g" "$1"
}

# assert_filled FILE: fails when a placeholder is left outside comments.
assert_filled() {
  left=$(grep -v '^[[:space:]]*#' "$1" | grep -o '{{[A-Z_]*}}' | sort -u | tr '\n' ' ') || true
  [ -z "$left" ] || die "$1 still has placeholders: $left"
}

# cli USER HOST:PORT ARGS...: one bounded redis-cli call as USER (password
# from SECRET_DIR, passed through the environment, never on argv).
cli() {
  _user=$1 _addr=$2
  shift 2
  set -- -h "${_addr%:*}" -p "${_addr##*:}" --user "$_user" "$@"
  if [ -n "${TLS_DIR:-}" ]; then
    set -- --tls --cacert "$TLS_DIR/ca.crt" --cert "$TLS_DIR/tls.crt" --key "$TLS_DIR/tls.key" "$@"
  fi
  _password=$(secret "$_user-password")
  REDISCLI_AUTH="$_password" \
    timeout "${QUERY_TIMEOUT:-3}" redis-cli "$@" 2>/dev/null | tr -d '\r'
}

# same_addr A B: whether two host:port strings name the same endpoint.
same_addr() {
  [ "$(printf '%s' "$1" | tr 'A-Z' 'a-z' | sed 's/\.:/:/')" = \
    "$(printf '%s' "$2" | tr 'A-Z' 'a-z' | sed 's/\.:/:/')" ]
}

# ask_sentinels SELF: the primary (host:port) the first answering Sentinel in
# SENTINEL_ADDRS knows for MASTER_NAME; SELF (a Sentinel's own address) is
# skipped. Fails when none answers with one.
ask_sentinels() {
  for addr in ${SENTINEL_ADDRS:-}; do
    if [ -n "$1" ] && same_addr "$addr" "$1"; then continue; fi
    reply=$(cli sentinel "$addr" SENTINEL get-master-addr-by-name "$MASTER_NAME") || true
    host=$(printf '%s\n' "$reply" | sed -n 1p)
    port=$(printf '%s\n' "$reply" | sed -n 2p)
    case "$port" in '' | *[!0-9]*) continue ;; esac
    case "$host" in '' | *' '*) continue ;; esac
    log "sentinel $addr reports primary $host:$port"
    printf '%s:%s\n' "$host" "$port"
    return 0
  done
  return 1
}

# ask_peers SELF: the first data node in DATA_ADDRS other than SELF whose
# ROLE is master. Fails when none is.
ask_peers() {
  for addr in ${DATA_ADDRS:-}; do
    if same_addr "$addr" "$1"; then continue; fi
    role=$(cli sentinel "$addr" ROLE | sed -n 1p) || true
    if [ "$role" = master ]; then
      log "data node $addr reports role master"
      printf '%s\n' "$addr"
      return 0
    fi
  done
  return 1
}

# current_primary SELF: where the primary is, asking the Sentinels first, the
# data nodes second, and only then falling back to FALLBACK_PRIMARY (pod 0).
current_primary() {
  ask_sentinels "${1:-}" && return 0
  ask_peers "${2:-}" && return 0
  log "no sentinel or data node knows a primary; using fallback $FALLBACK_PRIMARY"
  printf '%s\n' "$FALLBACK_PRIMARY"
}
