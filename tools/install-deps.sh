#!/bin/sh
# Installs the Debian packages bubble needs to build, run and test.
# As root it runs apt-get; otherwise it prints the exact command to run.
set -e
# build and tests
PKGS="build-essential pkg-config libsdl2-dev zlib1g-dev libslirp-dev nasm clang gcc-multilib qemu-user"
# the reference guest (tools/build-guest.sh) and its tests: Debian's i386 packages are
# downloaded, not installed; these host tools assemble the images
PKGS="$PKGS cpio xz-utils kmod binutils dropbear-bin openssh-client fdisk mtools syslinux syslinux-common isolinux xorriso seabios python3 bc"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "install-deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq $missing
else
    echo "install-deps: missing packages:$missing"
    echo "run as root:  apt-get update && apt-get install -y$missing"
    exit 1
fi
