#!/usr/bin/env bash
# Runs a command from the README's Quick start on a freshly made, minimal Debian 12 root, the way a
# newcomer's machine would: nothing installed but the `minbase` variant plus git, ca-certificates and
# sudo. Needs root (chroot, mount) and mmdebstrap; uses this machine's apt sources and apt proxy
# settings, so it works wherever apt works.
#
#   scripts/fresh-machine-check.sh [--user] [--keep] [--rebuild-root] [--] [COMMAND]
#
#   COMMAND         run inside the clone, in the fresh root (default: the README's test command)
#   --user          run it as an ordinary user with passwordless sudo, as on Debian cloud images
#                   (default: as root)
#   --keep          leave the root in place afterwards (its path is printed) instead of deleting it
#   --rebuild-root  make the bare root again instead of unpacking the cached tarball
#
# What it does: makes the bare root once with mmdebstrap and caches it as a tarball
# ($QKV_FRESH_CACHE, default ~/.cache/qkv-fresh-root), unpacks it into a new folder, clones the
# committed tree of this repository (HEAD, not the working tree) into it, mounts /proc, /sys, /dev,
# runs COMMAND with chroot while streaming its output, unmounts everything on any exit and exits with
# COMMAND's status. Downloaded .deb files are kept in the cache folder between runs (linked into the
# root's apt archive before, the new ones collected after), so a second run installs the same packages
# without downloading them again, and runs at the same time do not share apt's lock;
# QKV_FRESH_NO_DEB_CACHE=1 turns that off.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }

as_user=0 keep=0 rebuild=0
while [ $# -gt 0 ]; do
  case "$1" in
    --user) as_user=1 ;;
    --keep) keep=1 ;;
    --rebuild-root) rebuild=1 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) echo "fresh-machine-check: unknown option '$1' (expected --user, --keep, --rebuild-root, --help)" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
command_line="${*:-scripts/setup.sh && ctest --test-dir build --output-on-failure -j 2}"

if [ "$(id -u)" -ne 0 ]; then
  echo "fresh-machine-check: needs root (chroot and mount); run it with sudo" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
git -C "$repo" rev-parse --verify -q HEAD >/dev/null || {
  echo "fresh-machine-check: $repo has no commit to clone" >&2; exit 2; }

if ! command -v mmdebstrap >/dev/null; then
  echo "fresh-machine-check: installing mmdebstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

cache=${QKV_FRESH_CACHE:-${HOME:-/root}/.cache/qkv-fresh-root}
tarball="$cache/debian12-minbase.tar"
debs="$cache/debs"
mkdir -p "$cache" "$debs"
use_deb_cache=1
[ "${QKV_FRESH_NO_DEB_CACHE:-0}" = 1 ] && use_deb_cache=0

# This machine's apt settings that the fresh root needs to reach the same mirrors.
apt_options=()
while IFS= read -r line; do
  apt_options+=(--aptopt="$line")
done < <(apt-config dump | grep -E '^Acquire::((https?|ftp)::Proxy|Check-Valid-Until|Check-Date) ' || true)
mirrors=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && grep -qE '^[[:space:]]*(deb|Types:)' "$f" && grep -q 'debian' "$f" && mirrors+=("$f")
done

if [ "$rebuild" -eq 1 ] || [ ! -s "$tarball" ]; then
  echo "fresh-machine-check: making a minimal Debian 12 root with mmdebstrap (cached as $tarball)"
  mmdebstrap --variant=minbase --format=tar --include=git,ca-certificates,sudo "${apt_options[@]}" \
    bookworm "$tarball.tmp" "${mirrors[@]}"
  mv "$tarball.tmp" "$tarball"
fi

root=$(mktemp -d "${TMPDIR:-/var/tmp}/qkv-fresh-root.XXXXXX")
mounted=()
cleanup() {
  local status=$?
  if [ "$use_deb_cache" -eq 1 ] && [ -d "$root/var/cache/apt/archives" ]; then
    find "$root/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec cp -n -l -t "$debs" {} + 2>/dev/null ||
      find "$root/var/cache/apt/archives" -maxdepth 1 -name '*.deb' -exec cp -n -t "$debs" {} + 2>/dev/null || true
  fi
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount -R "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}" 2>/dev/null || true
  done
  if [ "$keep" -eq 1 ]; then
    echo "fresh-machine-check: the root is kept at $root"
  else
    # Never delete through a mount that is still there.
    if ! grep -q " $root/" /proc/mounts; then rm -rf "$root"; fi
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "fresh-machine-check: unpacking the bare root into $root"
tar -xf "$tarball" -C "$root"
mount_into() {  # mount_into TARGET ARGS... : mounts and remembers it for the cleanup
  local target="$root$1"; shift
  mkdir -p "$target"
  mount "$@" "$target"
  mounted+=("$target")
}
mount_into /proc -t proc proc
mount_into /sys --rbind /sys
mount_into /dev --rbind /dev
mount_into /dev/shm -t tmpfs -o mode=1777 tmpfs
if [ "$use_deb_cache" -eq 1 ]; then
  mkdir -p "$root/var/cache/apt/archives/partial"
  find "$debs" -maxdepth 1 -name '*.deb' -exec cp -l -t "$root/var/cache/apt/archives" {} + 2>/dev/null ||
    find "$debs" -maxdepth 1 -name '*.deb' -exec cp -t "$root/var/cache/apt/archives" {} +
fi
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
grep -q "[[:space:]]$(cat "$root/etc/hostname" 2>/dev/null)\$" "$root/etc/hosts" 2>/dev/null ||
  echo "127.0.1.1 $(cat "$root/etc/hostname" 2>/dev/null || echo localhost)" >> "$root/etc/hosts"

workdir=/root/qkv
user=root
if [ "$as_user" -eq 1 ]; then
  user=newcomer
  chroot "$root" useradd --create-home --shell /bin/bash "$user"
  echo "$user ALL=(ALL) NOPASSWD:ALL" > "$root/etc/sudoers.d/$user"
  chmod 0440 "$root/etc/sudoers.d/$user"
  workdir=/home/$user/qkv
fi
echo "fresh-machine-check: cloning $(git -C "$repo" rev-parse --short HEAD) into $workdir"
git clone -q --no-local "$repo" "$root$workdir"
chroot "$root" chown -R "$user:" "$workdir"

echo "fresh-machine-check: running as $user in $workdir: $command_line"
set +e
chroot "$root" /usr/bin/env -i HOME="$(dirname "$workdir")" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 TERM=dumb ${CI:+CI="$CI"} \
  /usr/sbin/runuser -u "$user" -- /bin/bash -c "cd '$workdir' && $command_line" </dev/null
status=$?
set -e
echo "fresh-machine-check: exit status $status"
exit "$status"
