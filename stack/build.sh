#!/usr/bin/env bash
# Builds the paas stack image: the Debian root file system that buildpack builds run in
# and that their output runs on. debootstrap's minbase variant (essential packages and
# apt) plus the packages listed in packages.txt, slimmed, given an unprivileged user,
# and imported into the Docker engine with `docker import`. No registry is involved.
#
# usage: stack/build.sh [--keyring FILE] SUITE MIRROR TAG [TAG...]
#
#   SUITE           the Debian release to bootstrap, e.g. bookworm
#   MIRROR          a Debian archive, e.g. http://deb.debian.org/debian; `cargo xtask
#                   stack` reads it from this machine's apt sources
#   TAG             image names: the first is given to `docker import`, the others are
#                   pointed at the same image; if the first exists already, nothing is
#                   built
#   --keyring FILE  the keyring debootstrap checks the archive's Release file with
#                   (default: debootstrap's own, Debian's archive keyring)
#
# Usually run by `cargo xtask stack`, which derives the tag from this file, packages.txt
# and the suite, skips the build when that image exists, and checks what was built.
# Needs root (debootstrap, chroot) and the docker CLI. Everything is made in one
# temporary directory under /var/tmp, removed on exit whether the build worked or not.
#
# Reproducible in content: the same recipe and the same package versions give the same
# files. Ids are fixed, nothing of the build host is left in the tree (resolv.conf,
# hostname, logs, caches), and the password-change dates in /etc/shadow are pinned.
# Not bit for bit: files written during the build keep their build-time mtimes, and
# `docker import` stamps the image with its creation time.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
    sed -n 's/^# \{0,1\}//; 7,17p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

keyring=()
if [[ ${1:-} == --keyring ]]; then
    [[ $# -ge 2 ]] || usage
    keyring=(--keyring="$2")
    shift 2
fi
[[ $# -ge 3 ]] || usage
suite=$1 mirror=$2
shift 2
tags=("$@")

# The user apps run as. Heroku runs dynos as an unprivileged user, with the app in /app
# and HOME=/app; so does this stack: user and group `app`, uid and gid 1000, home /app
# (empty, owned by it), locked password, and the image's default user (USER app,
# WORKDIR /app). Whoever needs root on top of it (a Dockerfile that installs packages)
# says `USER root`.
app_user=app
app_id=1000

# The day bookworm was released, in days since 1970: every password-change date in
# /etc/shadow is set to it, instead of the day of the build.
pinned_day=19518

# One build at a time on this machine: two `cargo xtask test` runs starting together
# would otherwise both bootstrap. The second finds the first one's image below.
exec 9>/var/tmp/paas-stack.lock
flock 9

if docker image inspect "${tags[0]}" >/dev/null 2>&1; then
    echo "build.sh: ${tags[0]} exists (built by a concurrent run)" >&2
    for tag in "${tags[@]:1}"; do docker tag "${tags[0]}" "$tag"; done
    exit 0
fi

# Removes a work directory: debootstrap mounts /proc and /sys inside the target while it
# runs (and, in a container, may bind device nodes), and a failed run can leave them
# mounted. Unmount whatever is under the directory, deepest first, then delete without
# crossing into any other file system.
remove_work_dir() {
    local dir=${1%/} mount
    while read -r mount; do
        umount --lazy "$mount" || true
    done < <(awk -v prefix="$dir/" 'index($2, prefix) == 1 { print $2 }' /proc/self/mounts | sort -r)
    rm -rf --one-file-system "$dir"
}

# Leftovers of a build that was killed (SIGKILL skips the trap below); the lock says no
# build is running.
for old in /var/tmp/paas-stack.*/; do
    if [[ -d $old ]]; then remove_work_dir "$old"; fi
done

work=$(mktemp -d /var/tmp/paas-stack.XXXXXXXX)
rootfs=$work/rootfs
on_exit() {
    local status=$?
    if [[ $status -ne 0 && -f $rootfs/debootstrap/debootstrap.log ]]; then
        echo "build.sh: last lines of debootstrap's log:" >&2
        tail -n 25 "$rootfs/debootstrap/debootstrap.log" >&2
    fi
    remove_work_dir "$work"
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# packages.txt: one package a line, `#` comments.
packages=$(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$here/packages.txt" | grep -v '^$' | paste -sd, -) || {
    echo "build.sh: no packages in $here/packages.txt" >&2
    exit 1
}

echo "build.sh: debootstrap $suite from $mirror with $packages" >&2
debootstrap --variant=minbase --components=main --include="$packages" "${keyring[@]}" \
    "$suite" "$rootfs" "$mirror"

# Runs a command inside the new root, with a clean environment.
in_root() {
    chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}

in_root groupadd --gid "$app_id" "$app_user"
in_root useradd --uid "$app_id" --gid "$app_id" --home-dir /app --no-create-home \
    --shell /bin/bash --no-log-init "$app_user"
install -d -m 0755 -o "$app_id" -g "$app_id" "$rootfs/app"

# No documentation, manual pages or translations: now, and for whatever is installed on
# top of the image later (dpkg reads this file). Copyright files stay.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/paas-stack-slim" <<'SLIM'
# The paas stack image keeps no documentation (see stack/build.sh in paas).
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
SLIM
find "$rootfs/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$rootfs/usr/share/doc" -mindepth 1 -depth -type d -empty -delete
find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf "$rootfs"/usr/share/{man,info}/* "$rootfs/usr/share/lintian"

# Caches, package lists (`apt-get update` fetches them again), logs and backup files.
in_root apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old \
    "$rootfs/var/cache/ldconfig/aux-cache" "$rootfs"/etc/*- "$rootfs"/tmp/* "$rootfs"/var/tmp/*
find "$rootfs/var/log" -type f -delete

# The build host's name and resolver, which debootstrap copies in; the Docker engine
# provides both (and /etc/hosts) to every container.
rm -f "$rootfs/etc/hostname" "$rootfs/etc/resolv.conf"

sed -i -E "s/^([^:]*:[^:]*:)[0-9]+:/\\1$pinned_day:/" "$rootfs/etc/shadow"

echo "build.sh: importing as ${tags[*]}" >&2
tar -C "$rootfs" --numeric-owner --sort=name -c . |
    docker import \
        --message "paas stack: debootstrap --variant=minbase $suite + $packages" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change "USER $app_user" \
        --change 'WORKDIR /app' \
        --change 'CMD ["/bin/bash"]' \
        - "${tags[0]}" >/dev/null
for tag in "${tags[@]:1}"; do docker tag "${tags[0]}" "$tag"; done
