#!/bin/sh
# Renders the redis-conf/ policy for the nodes of one Compose topology into
# the shared config volume, before any node starts (docker-compose.yml runs it
# as the one-shot `render-<topology>` services).
#
# Input (environment, set by docker-compose.yml):
#   TOPOLOGY          standalone | sentinel | cluster
#   DATA_NODES        "name:port ..." (Sentinel: the first is the initial primary)
#   SENTINEL_NODES    "name:port ..." (sentinel only)
#   MASTER_NAME, QUORUM                (sentinel only)
#   MAXMEMORY         maxmemory of every data node, e.g. 256mb
#   REDIS_{ADMIN,APP,EXPORTER,REPLICATION}_PASSWORD, REDIS_SENTINEL_ROLE_PASSWORD
# Templates are read from /policy (redis-conf/, mounted read-only); output per
# node goes to /config/<name>/ (redis.conf + users.acl, or sentinel.conf, and
# healthcheck.auth), owned by redis, mode 0600 in 0700 directories.
#
# Re-running is safe: a node whose inputs (templates, passwords, settings)
# are unchanged keeps its files, which matters because Sentinel rewrites
# sentinel.conf and the data nodes' redis.conf (CONFIG REWRITE) after a
# failover. Changed inputs re-render that node from the policy, which also
# resets the recorded primary to the initial one.
#
# Needs only sh, cat, sed, sha256sum, grep, mkdir, mv, rm, chmod, chown: busybox
# in the offline image (scripts/build-offline-images.sh), coreutils in the
# official one.
set -eu
umask 077

# Paths and owner as the containers see them; tests/iac/test_compose.py runs
# this script on the host with other values.
POLICY="${RENDER_POLICY_DIR:-/policy}"
OUT="${RENDER_CONFIG_DIR:-/config}"
SCRIPTS="${RENDER_SCRIPT_DIR:-/compose}"
OWNER="${RENDER_OWNER:-redis:redis}"
DATA_DIR=/data
# Inside a container listen on every interface of the container: the compose
# network for peers, and the port Docker publishes on the host's 127.0.0.1.
BIND='* -::*'

log() { printf 'render: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Passwords reach the ACL files as SHA-256 hashes (any value works), and
# masterauth / sentinel auth-pass / sentinel-pass as a quoted clear-text
# string, parsed by Redis (backslash escapes) after passing through sed here
# (healthcheck.auth holds the exporter's or app's as a plain word). Refusing the few characters that would need escaping
# keeps both simple; `openssl rand -hex 32` or `-base64 32` values pass.
check_password() {
    name="$1"
    eval "value=\${$name:-}"
    [ -n "$value" ] || die "$name is empty (set it in the environment or .env; see .env.example)"
    case "$value" in
        *[!A-Za-z0-9._~+/=@%:,-]*)
            die "$name contains a character other than A-Z a-z 0-9 . _ ~ + / = @ % : , - (generate one with: openssl rand -hex 32)" ;;
    esac
}

# password_var ROLE: the variable holding a role's password. The `sentinel`
# role's is REDIS_SENTINEL_ROLE_PASSWORD, as in the toolkit's launcher:
# REDIS_SENTINEL_PASSWORD is what `verify` reads to log in to the Sentinels.
password_var() {
    case "$1" in
        SENTINEL) printf 'REDIS_SENTINEL_ROLE_PASSWORD' ;;
        *) printf 'REDIS_%s_PASSWORD' "$1" ;;
    esac
}

acl_hash() {
    printf '%s' "$1" | sha256sum | {
        read -r hex _
        printf '#%s' "$hex"
    }
}

case "${TOPOLOGY:-}" in
    standalone | sentinel | cluster) ;;
    *) die "TOPOLOGY must be standalone, sentinel or cluster (got '${TOPOLOGY:-}')" ;;
esac
[ -n "${DATA_NODES:-}" ] || die "DATA_NODES is empty"
: "${MAXMEMORY:=256mb}"
for f in redis.conf users.acl; do
    [ -r "$POLICY/$f" ] || die "$POLICY/$f missing: mount redis-conf/ at $POLICY"
done
for role in ADMIN APP EXPORTER REPLICATION SENTINEL; do
    check_password "$(password_var "$role")"
done

mkdir -p "$OUT"
# One work directory per topology: the render services of several profiles
# may run at once on the same volume (each as PID 1 of its container).
WORK="$OUT/.render-$TOPOLOGY"
rm -rf "$WORK"
mkdir "$WORK"
trap 'rm -rf "$WORK"' EXIT

# One sed script fills every placeholder the policy uses. The node-specific
# part is appended per node. Values are checked above or fixed here, so none
# holds `|`, `&` or `\`.
common="$WORK/common.sed"
{
    for role in ADMIN APP EXPORTER REPLICATION SENTINEL; do
        eval "pw=\$$(password_var "$role")"
        printf 's|{{%s_PASSWORD}}|%s|g\n' "$role" "$(acl_hash "$pw")"
        printf 's|{{%s_SECRET}}|"%s"|g\n' "$role" "$pw"
    done
    printf 's|{{BIND}}|%s|g\n' "$BIND"
    printf 's|{{DIR}}|"%s"|g\n' "$DATA_DIR"
    printf 's|{{MAXMEMORY}}|%s|g\n' "$MAXMEMORY"
    printf 's|{{MASTER_NAME}}|%s|g\n' "${MASTER_NAME:-mymaster}"
    printf 's|{{QUORUM}}|%s|g\n' "${QUORUM:-2}"
} >"$common"

# render_node NAME PORT KIND TEMPLATE...
#   KIND: data (redis.conf + users.acl) or sentinel (sentinel.conf).
#   TEMPLATEs are concatenated in order, then filled.
render_node() {
    name="$1" port="$2" kind="$3"
    shift 3
    dir="$OUT/$name"
    script="$WORK/$name.sed"
    conf="$WORK/$name.conf"
    {
        # Comments keep their text: they mention placeholders by name.
        printf '/^[[:space:]]*#/b\n'
        cat "$common"
        printf 's|{{PORT}}|%s|g\n' "$port"
        printf 's|{{ACLFILE}}|"%s"|g\n' "$dir/users.acl"
        printf 's|{{ANNOUNCE_HOST}}|%s|g\n' "$name"
        printf 's|{{ANNOUNCE_PORT}}|%s|g\n' "$port"
        printf 's|{{PRIMARY_HOST}}|%s|g\n' "${primary_name:-}"
        printf 's|{{PRIMARY_PORT}}|%s|g\n' "${primary_port:-}"
        printf 's|{{MASTER_HOST}}|%s|g\n' "${primary_name:-}"
        printf 's|{{MASTER_PORT}}|%s|g\n' "${primary_port:-}"
    } >"$script"

    {
        printf '# Rendered by compose/render.sh for %s (%s) from redis-conf/:' "$name" "$TOPOLOGY"
        printf ' %s' "$@"
        printf '\n# Do not edit: change redis-conf/ and re-run docker compose up.\n'
        for t in "$@"; do
            [ -r "$POLICY/$t" ] || die "$POLICY/$t missing"
            printf '\n######## redis-conf/%s\n' "$t"
            sed -f "$script" "$POLICY/$t"
        done
    } >"$conf"
    unfilled "$conf" "$name"

    if [ "$kind" = data ]; then
        conf_name=redis.conf
        # Redis accepts only `user` lines in an ACL file: no comments.
        sed -e '/^[[:space:]]*#/d' -e '/^[[:space:]]*$/d' -f "$script" \
            "$POLICY/users.acl" >"$WORK/$name.acl"
        unfilled "$WORK/$name.acl" "$name"
        # The health check PINGs as the least-privileged role that may.
        health="$port exporter $REDIS_EXPORTER_PASSWORD"
    else
        conf_name=sentinel.conf
        health="$port app $REDIS_APP_PASSWORD"
    fi

    # The fingerprint covers everything the files are made from.
    fingerprint="$({
        cat "$conf"
        [ ! -f "$WORK/$name.acl" ] || cat "$WORK/$name.acl"
    } | sha256sum)"
    fingerprint="${fingerprint%% *}"
    if [ -f "$dir/.fingerprint" ] && [ -f "$dir/$conf_name" ] &&
        [ "$(cat "$dir/.fingerprint")" = "$fingerprint" ]; then
        log "$name: up to date, kept (Sentinel or CONFIG REWRITE may have updated it since)"
    else
        [ ! -f "$dir/.fingerprint" ] || log "$name: policy, passwords or settings changed: re-rendering from redis-conf/"
        mkdir -p "$dir"
        mv "$conf" "$dir/$conf_name.new"
        mv "$dir/$conf_name.new" "$dir/$conf_name"
        if [ -f "$WORK/$name.acl" ]; then
            mv "$WORK/$name.acl" "$dir/users.acl.new"
            mv "$dir/users.acl.new" "$dir/users.acl"
        fi
        printf '%s\n' "$fingerprint" >"$dir/.fingerprint"
        log "$name: rendered $dir/$conf_name"
    fi
    printf '%s\n' "$health" >"$dir/healthcheck.auth"
    chown -R "$OWNER" "$dir"
    chmod 0700 "$dir"
    chmod 0600 "$dir"/* "$dir/.fingerprint"
}

# unfilled FILE NODE: fail if a directive still holds a {{placeholder}}.
unfilled() {
    if sed -e '/^[[:space:]]*#/d' "$1" | grep -n '{{' >"$WORK/unfilled" 2>/dev/null; then
        die "$2: placeholder left unfilled in ${1##*/}: $(sed -n 1p "$WORK/unfilled")"
    fi
}

primary_name="" primary_port=""
for node in $DATA_NODES; do
    name="${node%%:*}" port="${node##*:}"
    case "$TOPOLOGY" in
        standalone) render_node "$name" "$port" data redis.conf ;;
        cluster) render_node "$name" "$port" data redis.conf cluster.conf ;;
        sentinel)
            if [ -z "$primary_name" ]; then
                primary_name="$name" primary_port="$port"
                render_node "$name" "$port" data redis.conf replication.conf
            else
                render_node "$name" "$port" data redis.conf replication.conf replica.conf
            fi
            ;;
    esac
done
if [ "$TOPOLOGY" = sentinel ]; then
    [ -n "${SENTINEL_NODES:-}" ] || die "SENTINEL_NODES is empty"
    for node in $SENTINEL_NODES; do
        render_node "${node%%:*}" "${node##*:}" sentinel sentinel.conf
    done
fi

# The health check script, for the nodes (which mount only volumes).
# Replaced atomically: nodes of another profile may be running it.
cat "$SCRIPTS/healthcheck.sh" >"$WORK/healthcheck.sh"
chown "$OWNER" "$WORK/healthcheck.sh"
chmod 0555 "$WORK/healthcheck.sh"
mv -f "$WORK/healthcheck.sh" "$OUT/healthcheck.sh"
chown "$OWNER" "$OUT"
chmod 0755 "$OUT"
log "done"
