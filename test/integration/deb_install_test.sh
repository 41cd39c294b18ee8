#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The .deb's maintainer scripts, for real: dpkg installs, upgrades, removes and purges the package
# in a throwaway copy-on-write view of this machine (an overlay of / in a private mount
# namespace, entered with chroot), so the machine itself never sees the package. Checks that an
# install enables nothing, an upgrade keeps the admin's enablement, removal keeps the conffiles
# and purge drops them and the enablement link. Usage: deb_install_test.sh DEB. Run by
# scripts/check-deb.sh. Exit 77 (skipped) when not root or when the overlay cannot be made.
set -u
DEB=$(readlink -f "${1:?usage: $0 DEB}")
if [ "$(id -u)" -ne 0 ]; then echo "SKIP: needs root"; exit 77; fi
for tool in unshare chroot dpkg; do command -v $tool >/dev/null || { echo "SKIP: $tool missing"; exit 77; }; done
if [ "${CTL_INSIDE:-}" != 1 ]; then
  WORK=$(mktemp -d /tmp/ctlabeld-debinst-XXXXXX)
  trap 'rmdir "$WORK" 2>/dev/null' EXIT
  CTL_INSIDE=1 WORK=$WORK timeout 240 unshare --mount --propagation private -- bash "$0" "$DEB"
  exit $?
fi

# ---- inside: a private mount namespace; everything below vanishes with it ----
mount -t tmpfs tmpfs "$WORK" || exit 1
mkdir -p "$WORK/upper" "$WORK/work" "$WORK/root"
if ! mount -t overlay overlay -o "lowerdir=/,upperdir=$WORK/upper,workdir=$WORK/work" "$WORK/root"; then
  echo "SKIP: cannot mount an overlay of / here"; exit 77
fi
R=$WORK/root
mount -t proc proc "$R/proc" && mount --rbind /dev "$R/dev" || exit 1
mkdir -p "$R/tmp/deb" && cp "$DEB" "$R/tmp/deb/ctlabeld.deb"
in_root() { chroot "$R" /bin/sh -c "$1"; }
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
ok() { echo "ok: $*"; }
check() {  # check DESCRIPTION SHELL-TEST (run in the chroot)
  if in_root "$2"; then ok "$1"; else fail "$1"; fi
}
dpkg_step() {  # dpkg_step WHAT ARGS...: dpkg in the chroot must succeed without a warning
  local out rc=0
  out=$(chroot "$R" dpkg "${@:2}" 2>&1) || rc=$?
  printf '%s\n' "$out" | sed 's/^/  | /'
  [ $rc -eq 0 ] || { fail "$1: dpkg exit status $rc"; return; }
  if grep -qi 'warning' <<<"$out"; then fail "$1: dpkg warned"; else ok "$1"; fi
}
WANTS=/etc/systemd/system/multi-user.target.wants/ctlabeld.service
# Only this test's namespace sees the package; a system that already has it is not a clean start.
in_root "dpkg-query -W ctlabeld >/dev/null 2>&1" && { echo "SKIP: ctlabeld is installed on this machine"; exit 77; }

echo "== install"
dpkg_step "dpkg -i" -i /tmp/deb/ctlabeld.deb
check "the binary runs" "/usr/sbin/ctlabeld --version >/dev/null"
check "copyright and changelog.gz in /usr/share/doc/ctlabeld" \
  "[ -f /usr/share/doc/ctlabeld/copyright ] && gzip -t /usr/share/doc/ctlabeld/changelog.gz"
check "conffiles in /etc/ctlabeld" "[ -f /etc/ctlabeld/actions.json ] && [ -f /etc/ctlabeld/ctlabeld.nft ]"
check "installing enables nothing" "[ ! -e $WANTS ]"

echo "== the admin enables it; an upgrade keeps that"
in_root "systemctl enable ctlabeld.service" >/dev/null 2>&1
check "systemctl enable made the link" "[ -L $WANTS ]"
echo "# an admin's edit" >> "$R/etc/ctlabeld/actions.json"
dpkg_step "dpkg -i over the installed version" -i /tmp/deb/ctlabeld.deb
check "still enabled after the upgrade" "[ -L $WANTS ]"
check "the admin's conffile edit kept" "grep -q \"an admin's edit\" /etc/ctlabeld/actions.json"

echo "== remove, then purge"
dpkg_step "dpkg -r" -r ctlabeld
check "binary gone" "[ ! -e /usr/sbin/ctlabeld ]"
check "conffiles kept until purge" "[ -f /etc/ctlabeld/actions.json ]"
dpkg_step "dpkg -P" -P ctlabeld
check "conffiles gone" "[ ! -e /etc/ctlabeld ]"
check "enablement link gone" "[ ! -e $WANTS ] && [ ! -L $WANTS ]"
check "no mask left" "[ ! -L /etc/systemd/system/ctlabeld.service ]"

[ $FAILS -eq 0 ] && { echo "deb_install: all passed"; exit 0; }
echo "deb_install: $FAILS failed"; exit 1
