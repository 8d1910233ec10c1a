#!/usr/bin/env bash
# Build local Docker images equivalent to the official Redis, redis_exporter
# and Prometheus images, for machines whose Docker engine reaches no container
# registry. Each image is a `docker import` of a minimal root filesystem that
# holds Debian's binaries, the shared libraries `ldd` reports for them (plus
# the dynamic loader), a static busybox where a shell is useful, and minimal
# /etc/passwd and /etc/group.
#
# Usage: scripts/build-offline-images.sh [--force] [redis] [exporter] [prometheus] [loadtest]
#   No image names: build the first three, and loadtest when a host-built
#   loadtest binary exists (see LOADTEST_BIN; otherwise one line says it is
#   skipped). An image whose tag already exists and
#   was built by the current recipe (label io.redis-readiness.recipe, a hash
#   of this script's build functions and applet lists) is skipped unless
#   --force is given; one from an older recipe is rebuilt. With no Docker
#   daemon the script says so and exits 0 without doing anything.
#
# Tags (environment, defaults in brackets):
#   REDIS_IMAGE       [redis-readiness/redis:7.0-debian]
#   EXPORTER_IMAGE    [redis-readiness/redis_exporter:debian]
#   PROMETHEUS_IMAGE  [redis-readiness/prometheus:debian]
#   LOADTEST_IMAGE    [redis-readiness/loadtest:0.1.0, the chart's default loadtest.image]
#   LOADTEST_BIN      [target/release/loadtest, else target/debug/loadtest]
#
# The loadtest image is the chart's load test Job image for this offline
# machine: the binary cargo already built, packaged (debug symbols stripped
# when `strip` is there) onto the same base as the others; it is rebuilt when
# the binary changes (its hash is part of the recipe). No Rust build runs
# here: on a registry-connected machine use loadtest/Dockerfile instead.
#
# Progress goes to stderr; the `export ...=...` lines at the end go to stdout,
# so `eval "$(scripts/build-offline-images.sh)"` sets them in the caller.
#
# Differences from the official images:
#   - redis: Redis 7.0 (Debian bookworm), not 7.4. The entrypoint is a busybox
#     port of the official one (drops to user redis via `su`, not gosu). The
#     binary's compiled default is `protected-mode yes` (official: no); the
#     entrypoint passes `--protected-mode no` only when no config file is
#     given, so a config file that leaves protected-mode unset gets `yes`.
#     Only a handful of busybox applets exist (no bash, no apt).
#   - exporter: Debian's redis_exporter 1.45; also at /redis_exporter.
#   - prometheus: Debian's 2.42, without web console files or UI assets.
set -euo pipefail
umask 022

REDIS_IMAGE="${REDIS_IMAGE:-redis-readiness/redis:7.0-debian}"
EXPORTER_IMAGE="${EXPORTER_IMAGE:-redis-readiness/redis_exporter:debian}"
PROMETHEUS_IMAGE="${PROMETHEUS_IMAGE:-redis-readiness/prometheus:debian}"
LOADTEST_IMAGE="${LOADTEST_IMAGE:-redis-readiness/loadtest:0.1.0}"
REPO_ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${LOADTEST_BIN:-}" ]; then
    for LOADTEST_BIN in "$REPO_ROOT/target/release/loadtest" "$REPO_ROOT/target/debug/loadtest" ""; do
        [ -x "$LOADTEST_BIN" ] && break
    done
fi

REDIS_UID=999
NOBODY_UID=65534
EXPORTER_UID=59000   # what the official redis_exporter image runs as
SEARCH_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
BUSYBOX_APPLETS_BASE="sh cat ls sleep kill echo env id ps grep mkdir rm chmod chown touch test true false"
# The redis image also runs docker-compose.yml's helpers (compose/render.sh:
# sed, sha256sum, mv; compose/cluster-init.sh: tr) and the entrypoint (find,
# su); the other text tools are there for the same kind of scripts, as
# coreutils are in the official image. Debian's busybox-static ash runs its
# own applets even without a link (FEATURE_SH_STANDALONE), so scripts under
# /bin/sh would work anyway; the links make the tools callable directly
# (`docker exec … sed`, exec-form health checks, `find -exec`, `env`).
REDIS_BUSYBOX_APPLETS="$BUSYBOX_APPLETS_BASE find su sed sha256sum mv cp tr cut head tail wc sort"

log() { printf '%s\n' "build-offline-images: $*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
}

# ---------------------------------------------------------------- arguments
force=0
want=()
for arg in "$@"; do
    case "$arg" in
        --force|-f) force=1 ;;
        -h|--help) usage; exit 0 ;;
        redis|exporter|prometheus|loadtest) want+=("$arg") ;;
        *) log "unknown argument: $arg"; usage; exit 2 ;;
    esac
done
if [ "${#want[@]}" -eq 0 ]; then
    want=(redis exporter prometheus)
    if [ -n "$LOADTEST_BIN" ] && [ -x "$LOADTEST_BIN" ]; then
        want+=(loadtest)
    else
        log "SKIPPING the loadtest image: no loadtest binary (run cargo build -p loadtest, or set LOADTEST_BIN)"
    fi
elif [[ " ${want[*]} " == *" loadtest "* ]] && { [ -z "$LOADTEST_BIN" ] || [ ! -x "$LOADTEST_BIN" ]; }; then
    die "the loadtest image needs a host-built binary: run cargo build -p loadtest, or set LOADTEST_BIN"
fi

wants() {
    local w
    for w in "${want[@]}"; do [ "$w" = "$1" ] && return 0; done
    return 1
}

image_for() {
    case "$1" in
        redis) printf '%s' "$REDIS_IMAGE" ;;
        exporter) printf '%s' "$EXPORTER_IMAGE" ;;
        prometheus) printf '%s' "$PROMETHEUS_IMAGE" ;;
        loadtest) printf '%s' "$LOADTEST_IMAGE" ;;
    esac
}

print_exports() {
    local w
    for w in "${want[@]}"; do
        case "$w" in
            redis) echo "export REDIS_IMAGE=$REDIS_IMAGE" ;;
            exporter) echo "export EXPORTER_IMAGE=$EXPORTER_IMAGE" ;;
            prometheus) echo "export PROMETHEUS_IMAGE=$PROMETHEUS_IMAGE" ;;
            loadtest) echo "export LOADTEST_IMAGE=$LOADTEST_IMAGE" ;;
        esac
    done
}

# ---------------------------------------------------------------- docker
if ! command -v docker >/dev/null 2>&1; then
    log "no docker client on PATH; nothing to build (exit 0)"
    exit 0
fi
if ! docker info >/dev/null 2>&1; then
    log "no Docker daemon answers (docker info failed); nothing to build (exit 0)"
    exit 0
fi

# ---------------------------------------------------------------- rootfs helpers
WORK="$(mktemp -d "${TMPDIR:-/tmp}/offline-images.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Locate a host binary from a Debian package.
host_bin() {
    local name="$1" d
    for d in /usr/bin /usr/sbin /bin /sbin /usr/local/bin; do
        if [ -x "$d/$name" ]; then printf '%s' "$d/$name"; return 0; fi
    done
    command -v "$name" 2>/dev/null && return 0
    die "binary $name not found on this machine"
}

# Shared libraries (and the dynamic loader) of a binary, as absolute paths,
# from ldd. Prints nothing for a static binary.
libs_of() {
    local out
    out="$(LC_ALL=C ldd "$1" 2>&1)" || true
    if printf '%s\n' "$out" | grep -q 'not found'; then
        die "unresolved libraries for $1: $(printf '%s\n' "$out" | grep 'not found' | tr -s ' \t' ' ')"
    fi
    printf '%s\n' "$out" | awk '
        $2 == "=>" && substr($3, 1, 1) == "/" { print $3; next }
        substr($1, 1, 1) == "/" { print $1 }'
}

# copy_file ROOT SRC [DEST]: copy SRC (symlinks resolved) to ROOT/DEST.
copy_file() {
    local root="$1" src="$2" dest="${3:-$2}"
    mkdir -p "$root$(dirname "$dest")"
    cp -L "$src" "$root$dest"
}

# copy_bin ROOT SRC DEST: copy a binary and every library it needs.
copy_bin() {
    local root="$1" src="$2" dest="$3" lib
    copy_file "$root" "$src" "$dest"
    chmod 0755 "$root$dest"
    while IFS= read -r lib; do
        [ -n "$lib" ] || continue
        [ -e "$root$lib" ] || copy_file "$root" "$lib"
    done < <(libs_of "$src")
}

# base_rootfs ROOT: directories and account files common to all images.
base_rootfs() {
    local root="$1"
    mkdir -p "$root"
    chmod 0755 "$root"
    mkdir -p "$root"/{bin,etc,root,tmp,usr/bin,usr/local/bin,var/tmp}
    chmod 1777 "$root/tmp" "$root/var/tmp"
    chmod 0700 "$root/root"
    cat >"$root/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
redis:x:$REDIS_UID:$REDIS_UID::/data:/bin/false
nobody:x:$NOBODY_UID:$NOBODY_UID:nobody:/nonexistent:/bin/false
EOF
    cat >"$root/etc/group" <<EOF
root:x:0:
redis:x:$REDIS_UID:
nogroup:x:$NOBODY_UID:
EOF
    cat >"$root/etc/nsswitch.conf" <<EOF
passwd: files
group: files
hosts: files dns
EOF
    chmod 0644 "$root"/etc/{passwd,group,nsswitch.conf}
}

# add_busybox ROOT APPLET...: static busybox as /bin/busybox, applets as links.
add_busybox() {
    local root="$1" a
    shift
    copy_bin "$root" "$(host_bin busybox)" /bin/busybox
    for a in "$@"; do
        ln -sf busybox "$root/bin/$a"
    done
}

add_ca_certs() {
    local root="$1"
    [ -f /etc/ssl/certs/ca-certificates.crt ] || die "/etc/ssl/certs/ca-certificates.crt missing (package ca-certificates)"
    copy_file "$root" /etc/ssl/certs/ca-certificates.crt
}

# import_rootfs ROOT IMAGE MESSAGE OWNED CHANGE...
#   OWNED: space-separated "uid:gid:path" entries (paths relative to ROOT,
#   without leading /) whose tree gets that owner; everything else is 0:0.
#   Ownership is set in the tar stream, so no root privileges are needed.
import_rootfs() {
    local root="$1" image="$2" msg="$3" owned="$4"
    shift 4
    local tarball="$WORK/$(basename "$root").tar" excl=() entry uid gid path changes=() c old_id new_id
    for entry in $owned; do
        excl+=(--exclude="./${entry#*:*:}")
    done
    tar -C "$root" --numeric-owner --owner=0 --group=0 --anchored "${excl[@]}" -cf "$tarball" .
    for entry in $owned; do
        uid="${entry%%:*}"; gid="${entry#*:}"; gid="${gid%%:*}"; path="${entry#*:*:}"
        tar -C "$root" --numeric-owner --owner="$uid" --group="$gid" -rf "$tarball" "./$path"
    done
    for c in "$@"; do changes+=(--change "$c"); done
    changes+=(--change "LABEL $RECIPE_LABEL=$RECIPE")
    old_id="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
    new_id="$(docker import "${changes[@]}" -m "$msg" "$tarball" "$image")"
    rm -f "$tarball"
    if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
        docker rmi "$old_id" >/dev/null 2>&1 || true   # fails harmlessly if still in use
    fi
    log "built $image ($(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.1f MB", $1/1e6}'))"
}

# ---------------------------------------------------------------- images
# The official image's docker-entrypoint.sh, for busybox: `--opt`/`x.conf`
# arguments get `redis-server` put in front; a root `redis-server` chowns
# WORKDIR to redis and re-executes itself as redis (busybox su instead of
# gosu); umask 0077. Also emulates the official build's compiled default
# `protected-mode no` (Debian's is yes) when no config file is given.
write_redis_entrypoint() {
    cat >"$1" <<'EOF'
#!/bin/sh
set -e

# first arg is `-f` or `--some-option`, or `something.conf`
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

# The official image compiles Redis with protected-mode defaulting to "no";
# Debian's binary defaults to "yes". Without a config file, and unless the
# command line sets it, pass the official default. With a config file the
# Debian default stays (stricter), since the file may set it via include.
if [ "$1" = 'redis-server' ] || [ "$1" = 'redis-sentinel' ]; then
	case "${2:-}" in
		-v|--version|-h|--help|--test-memory|--check-system|-) ;;
		''|--*)
			pm=no
			for a in "$@"; do [ "$a" = '--protected-mode' ] && pm=set; done
			[ "$pm" = no ] && set -- "$@" --protected-mode no
			;;
	esac
fi

# allow the container to be started with `--user`
if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' +
	exec su -p -s /bin/sh redis -c 'exec "$0" "$@"' -- "$0" "$@"
fi

# set an appropriate umask (if one isn't set already)
um="$(umask)"
if [ "$um" = '0022' ]; then
	umask 0077
fi

exec "$@"
EOF
    chmod 0755 "$1"
}

build_redis() {
    local root="$WORK/redis" server tool src ver bin
    base_rootfs "$root"
    mkdir -p "$root/data"
    chmod 0755 "$root/data"

    # Debian ships one binary (redis-check-rdb) and names it redis-server /
    # redis-sentinel through symlinks; Redis picks its mode from argv[0]. Copy
    # it as /usr/local/bin/redis-server and link the other names to it, like
    # the official image does.
    if [ -e /usr/bin/redis-server ]; then server=/usr/bin/redis-server; else server="$(host_bin redis-check-rdb)"; fi
    copy_bin "$root" "$server" /usr/local/bin/redis-server
    for tool in redis-sentinel redis-check-rdb redis-check-aof; do
        src=""
        [ -e "/usr/bin/$tool" ] && src="/usr/bin/$tool"
        if [ -z "$src" ] || cmp -s "$src" "$server"; then
            ln -s redis-server "$root/usr/local/bin/$tool"
        else
            copy_bin "$root" "$src" "/usr/local/bin/$tool"
        fi
    done
    for bin in redis-cli redis-benchmark; do
        copy_bin "$root" "$(host_bin "$bin")" "/usr/local/bin/$bin"
    done
    add_busybox "$root" $REDIS_BUSYBOX_APPLETS
    write_redis_entrypoint "$root/usr/local/bin/docker-entrypoint.sh"

    ver="$(pkg_version redis-tools)"; ver="${ver#*:}"; ver="${ver%%-*}"
    import_rootfs "$root" "$REDIS_IMAGE" "redis $ver from Debian redis-tools $(pkg_version redis-tools)" \
        "$REDIS_UID:$REDIS_UID:data" \
        "ENV PATH=$SEARCH_PATH" \
        "ENV REDIS_VERSION=$ver" \
        'VOLUME /data' \
        'WORKDIR /data' \
        'EXPOSE 6379' \
        'ENTRYPOINT ["docker-entrypoint.sh"]' \
        'CMD ["redis-server"]'
}

build_exporter() {
    local root="$WORK/exporter"
    base_rootfs "$root"
    copy_bin "$root" "$(host_bin prometheus-redis-exporter)" /usr/bin/prometheus-redis-exporter
    ln -s usr/bin/prometheus-redis-exporter "$root/redis_exporter"   # official path
    add_ca_certs "$root"
    import_rootfs "$root" "$EXPORTER_IMAGE" \
        "redis_exporter from Debian prometheus-redis-exporter $(pkg_version prometheus-redis-exporter)" "" \
        "ENV PATH=$SEARCH_PATH" \
        "USER $EXPORTER_UID:$EXPORTER_UID" \
        'EXPOSE 9121' \
        'ENTRYPOINT ["/usr/bin/prometheus-redis-exporter"]'
}

build_prometheus() {
    local root="$WORK/prometheus"
    base_rootfs "$root"
    copy_bin "$root" "$(host_bin prometheus)" /bin/prometheus
    copy_bin "$root" "$(host_bin promtool)" /bin/promtool
    add_busybox "$root" $BUSYBOX_APPLETS_BASE wget
    add_ca_certs "$root"
    mkdir -p "$root/etc/prometheus" "$root/prometheus"
    cat >"$root/etc/prometheus/prometheus.yml" <<'EOF'
# Minimal default configuration; mount your own over this file.
global:
  scrape_interval: 15s
  evaluation_interval: 15s

scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:9090"]
EOF
    chmod 0644 "$root/etc/prometheus/prometheus.yml"
    import_rootfs "$root" "$PROMETHEUS_IMAGE" \
        "prometheus from Debian prometheus $(pkg_version prometheus)" \
        "$NOBODY_UID:$NOBODY_UID:prometheus $NOBODY_UID:$NOBODY_UID:etc/prometheus" \
        "ENV PATH=$SEARCH_PATH" \
        'USER nobody' \
        'VOLUME /prometheus' \
        'WORKDIR /prometheus' \
        'EXPOSE 9090' \
        'ENTRYPOINT ["/bin/prometheus"]' \
        'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]'
}

# The chart's load test Job image: the host-built binary as the entrypoint,
# run as nobody (the Job's pod security context sets its own user anyway),
# with CA certificates for rediss:// targets.
build_loadtest() {
    local root="$WORK/loadtest" bin="$WORK/loadtest.bin"
    base_rootfs "$root"
    cp "$LOADTEST_BIN" "$bin"
    # A debug build carries ~80 MB of debug information the image never uses.
    if command -v strip >/dev/null 2>&1; then strip --strip-debug "$bin"; fi
    copy_bin "$root" "$bin" /usr/local/bin/loadtest
    add_ca_certs "$root"
    import_rootfs "$root" "$LOADTEST_IMAGE" \
        "loadtest from $(basename "$(dirname "$LOADTEST_BIN")") build $(sha256sum <"$LOADTEST_BIN" | cut -c1-12)" "" \
        "ENV PATH=$SEARCH_PATH" \
        "USER $NOBODY_UID:$NOBODY_UID" \
        'ENTRYPOINT ["/usr/local/bin/loadtest"]' \
        'CMD ["--help"]'
}

# ---------------------------------------------------------------- what to build
# recipe_of NAME: a hash of how image NAME is built, stored in the image as a
# label, so an image left by an older version of this script (fewer busybox
# applets, say) is rebuilt without --force. It hashes function bodies, so it
# runs here, after every build function is defined.
RECIPE_LABEL=io.redis-readiness.recipe
recipe_of() {
    {
        declare -f "build_$1" base_rootfs add_busybox add_ca_certs copy_bin copy_file \
            libs_of host_bin import_rootfs write_redis_entrypoint
        printf '%s\n' "$BUSYBOX_APPLETS_BASE" "$REDIS_BUSYBOX_APPLETS" "$REDIS_UID" \
            "$NOBODY_UID" "$EXPORTER_UID" "$SEARCH_PATH"
        # The loadtest image is only as new as the binary it packages.
        if [ "$1" = loadtest ]; then sha256sum <"$LOADTEST_BIN"; fi
    } | sha256sum | cut -c1-16
}

todo=()
for w in "${want[@]}"; do
    img="$(image_for "$w")"
    have="$(docker image inspect -f "{{index .Config.Labels \"$RECIPE_LABEL\"}}" "$img" 2>/dev/null || true)"
    if [ "$force" -eq 0 ] && [ -n "$have" ] && [ "$have" = "$(recipe_of "$w")" ]; then
        log "$img already exists, skipping (use --force to rebuild)"
    elif [ "$force" -eq 0 ] && docker image inspect "$img" >/dev/null 2>&1; then
        log "$img was built by an older recipe (label $RECIPE_LABEL=${have:-none}): rebuilding"
        todo+=("$w")
    else
        todo+=("$w")
    fi
done

if [ "${#todo[@]}" -eq 0 ]; then
    log "all requested images present"
    print_exports
    exit 0
fi

# ---------------------------------------------------------------- packages
pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

pkgs=()
for w in "${todo[@]}"; do
    case "$w" in
        # redis-tools holds the one real binary (redis-check-rdb); Debian's
        # redis-server/redis-sentinel packages only add symlinks to it plus
        # host services, which are not needed (and not wanted running here).
        redis) pkgs+=(redis-tools busybox-static) ;;
        exporter) pkgs+=(prometheus-redis-exporter ca-certificates) ;;
        prometheus) pkgs+=(prometheus ca-certificates busybox-static) ;;
        loadtest) pkgs+=(ca-certificates) ;;
    esac
done
missing=()
for p in "${pkgs[@]}"; do
    pkg_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    # de-duplicate
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing Debian packages: ${missing[*]}"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 ||
            die "not root and no sudo: install ${missing[*]} first"
        SUDO=(sudo)
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}" >&2
fi

pkg_version() { dpkg-query -W -f='${Version}' "$1"; }

# ---------------------------------------------------------------- build
for w in "${todo[@]}"; do
    log "building $(image_for "$w") ..."
    RECIPE="$(recipe_of "$w")"
    "build_$w"
done

log "done; to point the toolkit at these images:"
print_exports
