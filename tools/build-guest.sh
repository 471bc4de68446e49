#!/bin/bash
# Builds Bubble's reference guest from Debian 12 i386 packages, without
# installing anything i386 on the host: the packages are downloaded with
# apt-get download and unpacked with dpkg-deb -x.
#
# Outputs (in images/ at the repository root, or --out DIR):
#   vmlinuz        Debian's linux-image-686 kernel (bzImage)
#   initrd.gz      gzip'd cpio newc initramfs: busybox-static, dropbear,
#                  the kernel modules for the PC's disks, CD-ROM and NE2000
#   disk.img       64 MiB raw MBR disk, one FAT16 partition, SYSLINUX
#   guest.iso      ISOLINUX CD (isohybrid)
#   guest_key      ed25519 SSH key (and .pub) the guest's root accepts
#   cache/         the downloaded .deb files
#   build/         staging trees and step stamps
#
# Every step is skipped when its stamp matches (package versions, this script,
# tools/guest/rootfs and syslinux.cfg): --force rebuilds, --update refreshes
# the apt index first to pick up new package versions.
# tools/guest/check-with-qemu.sh boots the results under QEMU.
set -Eeuo pipefail
shopt -s inherit_errexit

usage() {
    cat <<'EOF'
usage: tools/build-guest.sh [--force] [--update] [--out DIR]
  --force    rebuild every output even when its stamp is up to date
  --update   run apt-get update first (to pick up new package versions)
  --out DIR  write the outputs to DIR instead of images/
EOF
}

# depmod, sfdisk and friends live in sbin, outside a normal user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GUEST_SRC="$REPO/tools/guest"
OUT="$REPO/images"
FORCE=0
UPDATE=0
while [ $# -gt 0 ]; do
    case "$1" in
    --force) FORCE=1 ;;
    --update) UPDATE=1 ;;
    --out) [ $# -ge 2 ] || { usage >&2; exit 2; }; OUT="$2"; shift ;;
    --out=*) OUT="${1#--out=}" ;;
    -h|--help) usage; exit 0 ;;
    *) echo "build-guest: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
CACHE="$OUT/cache"
BUILD="$OUT/build"
STAMPS="$BUILD/stamps"

# i386 packages that go into the guest. The versioned kernel package that
# linux-image-686 depends on is added at run time. The libraries are those
# dropbear needs (checked against the ELF NEEDED entries when copying).
GUEST_PACKAGES="linux-image-686 busybox-static dropbear-bin libc6 libcrypt1
    libtomcrypt1 libtommath1 libgmp10 zlib1g"
# Modules shipped besides those /etc/modules loads at boot: loaded on demand
# by the kernel (fs-NAME, crypto-NAME aliases) or by /init (ne with ne.io=).
DEMAND_MODULES="ne isofs vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859-1 ext4
    crc32c_generic crct10dif_generic"
# Guest programs besides busybox; their shared libraries are copied along.
GUEST_PROGRAMS="usr/sbin/dropbear usr/bin/dropbearkey usr/bin/dbclient"
# Host tools: command (or file) and the Debian amd64 package providing it.
HOST_TOOLS="apt-get:apt dpkg-deb:dpkg cpio:cpio gzip:gzip xz:xz-utils
    depmod:kmod modprobe:kmod readelf:binutils qemu-i386:qemu-user
    dropbearkey:dropbear-bin ssh-keygen:openssh-client sfdisk:fdisk
    mformat:mtools mcopy:mtools syslinux:syslinux
    /usr/lib/syslinux/mbr/mbr.bin:syslinux-common
    /usr/lib/syslinux/modules/bios/ldlinux.c32:syslinux-common
    /usr/lib/ISOLINUX/isolinux.bin:isolinux
    /usr/lib/ISOLINUX/isohdpfx.bin:isolinux xorriso:xorriso"
DISK_MIB=64
PART_START=2048     # first partition sector (1 MiB aligned)
STEPS=7
STEP=0
STEP_NAME=""

step() {
    STEP=$((STEP + 1))
    STEP_NAME="$1"
    printf '[%d/%d] %s\n' "$STEP" "$STEPS" "$1"
}
note() { printf '      %s\n' "$*"; }
die() {
    echo "build-guest: error: $*" >&2
    exit 1
}
on_error() {
    # Subshells fail first; report once, from the main shell.
    [ "$BASH_SUBSHELL" = 0 ] || return 0
    echo "build-guest: error: step [$STEP/$STEPS] '$STEP_NAME' failed" \
         "(line $1: $2)" >&2
}
trap 'on_error "$LINENO" "$BASH_COMMAND"; exit 1' ERR

is_root() { [ "$(id -u)" = 0 ]; }

# A stamp records the hash of the key its step was last built with.
key_hash() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
stamp_ok() { [ "$FORCE" = 0 ] && [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$(key_hash "$2")" ]; }
stamp_set() { mkdir -p "$STAMPS"; key_hash "$2" > "$STAMPS/$1"; }

# ---------------------------------------------------------------- host tools
check_host_tools() {
    local entry tool pkg missing=""
    for entry in $HOST_TOOLS; do
        tool=${entry%%:*}
        pkg=${entry##*:}
        case "$tool" in
        /*) [ -e "$tool" ] && continue ;;
        *) command -v "$tool" >/dev/null 2>&1 && continue ;;
        esac
        case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
    done
    [ -z "$missing" ] && { note "all present"; return 0; }
    if is_root; then
        note "installing$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq $missing >/dev/null \
            || { apt-get update -qq || true; apt-get install -y -qq $missing >/dev/null; } \
            || die "could not install host packages:$missing"
    else
        echo "build-guest: missing host packages:$missing" >&2
        echo "run as root:  apt-get update && apt-get install -y$missing" >&2
        exit 1
    fi
}

# -------------------------------------------------------------- apt, versions
kernel_package() {
    apt-cache show --no-all-versions linux-image-686:i386 2>/dev/null \
        | awk -F': ' '/^Depends:/ { print $2; exit }' \
        | tr ',' '\n' | sed -n 's/^ *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -n1
}

apt_update() {
    # A failing secondary index (a mirror mid-sync) is not fatal as long as
    # the packages resolve afterwards; resolve_versions checks that.
    apt-get update -qq || note "apt-get update reported errors (checking whether the i386 packages resolve anyway)"
}

resolve_versions() {
    local pkg ver policy
    KERNEL_PKG=$(kernel_package)
    [ -n "$KERNEL_PKG" ] || return 1
    PACKAGES="$GUEST_PACKAGES $KERNEL_PKG"
    # One apt-cache call for all packages: each call costs about a second.
    # shellcheck disable=SC2046 # one word per package, split on purpose
    policy=$(apt-cache policy $(printf '%s:i386 ' $PACKAGES) 2>/dev/null \
        | awk '/^[^ ]/ { pkg = $1; sub(/:i386:$/, "", pkg) } /Candidate:/ { print pkg "=" $2 }')
    VERSIONS=""
    for pkg in $PACKAGES; do
        ver=$(printf '%s\n' "$policy" | sed -n "s/^$pkg=//p")
        [ -n "$ver" ] && [ "$ver" != "(none)" ] || return 1
        VERSIONS="$VERSIONS$pkg=$ver
"
    done
}

setup_apt() {
    if ! dpkg --print-foreign-architectures | grep -qx i386; then
        if is_root; then
            note "adding the i386 architecture to dpkg"
            dpkg --add-architecture i386
            apt_update
        else
            echo "build-guest: dpkg does not know the i386 architecture yet." >&2
            echo "run as root:  dpkg --add-architecture i386 && apt-get update" >&2
            exit 1
        fi
    elif [ "$UPDATE" = 1 ]; then
        is_root || die "--update needs root (apt-get update)"
        apt_update
    fi
    if ! resolve_versions; then
        if is_root; then
            apt_update
            resolve_versions || die "the i386 packages ($GUEST_PACKAGES) do not resolve; see 'apt-cache policy linux-image-686:i386'"
        else
            echo "build-guest: the i386 package index is missing or stale." >&2
            echo "run as root:  apt-get update" >&2
            exit 1
        fi
    fi
    KVER=${KERNEL_PKG#linux-image-}
    printf '%s' "$VERSIONS" | sed 's/^/      /'
}

# ------------------------------------------------------------------ download
deb_path() { # pkg ver -> the file name apt-get download gives it
    local ver=${2//:/%3a}
    echo "$CACHE/${1}_${ver}_i386.deb"
}

download_packages() {
    local pkg ver deb fetched=0
    mkdir -p "$CACHE"
    while IFS='=' read -r pkg ver; do
        [ -n "$pkg" ] || continue
        deb=$(deb_path "$pkg" "$ver")
        if [ -f "$deb" ] && [ "$(dpkg-deb -f "$deb" Version 2>/dev/null)" = "$ver" ]; then
            continue
        fi
        rm -f "$CACHE/${pkg}"_*_i386.deb    # an older version
        (cd "$CACHE" && apt-get download -q=2 -o APT::Sandbox::User=root "$pkg:i386=$ver") \
            || die "apt-get download $pkg:i386=$ver failed"
        [ -f "$deb" ] || die "apt-get download did not produce $deb"
        fetched=$((fetched + 1))
    done <<< "$VERSIONS"
    note "$fetched downloaded, cache: $CACHE"
}

# ------------------------------------------------------------------- extract
STAGING="$BUILD/staging"

extract_packages() {
    local pkg ver
    rm -rf "$STAGING"
    mkdir -p "$STAGING"
    while IFS='=' read -r pkg ver; do
        [ -n "$pkg" ] || continue
        dpkg-deb -x "$(deb_path "$pkg" "$ver")" "$STAGING"
    done <<< "$VERSIONS"
    [ -f "$STAGING/boot/vmlinuz-$KVER" ] || die "no boot/vmlinuz-$KVER in $KERNEL_PKG"
    # A full modules.dep lets us compute the dependency closure of our modules.
    depmod -b "$STAGING" "$KVER"
}

# ----------------------------------------------------------------- initramfs
INITRAMFS="$BUILD/initramfs"

# Prints the module file (relative to lib/modules/KVER) for a module name;
# '-' and '_' are the same in module names.
module_path() {
    local want=${1//-/_}
    awk -F: -v want="$want" '{
        name = $1; sub(/.*\//, "", name); sub(/\.ko(\.[a-z]+)?$/, "", name)
        gsub(/-/, "_", name)
        if (name == want) { print $1; exit }
    }' "$STAGING/lib/modules/$KVER/modules.dep"
}

# Prints the module files for the given names and all their dependencies.
module_closure() {
    local dep="$STAGING/lib/modules/$KVER/modules.dep" name path todo="" seen=" "
    for name in "$@"; do
        path=$(module_path "$name")
        [ -n "$path" ] || die "module $name is not in $KERNEL_PKG (built in? check boot/config-$KVER)"
        todo="$todo $path"
    done
    while [ -n "${todo// /}" ]; do
        set -- $todo
        path=$1; shift; todo="$*"
        case "$seen" in *" $path "*) continue ;; esac
        seen="$seen$path "
        echo "$path"
        todo="$todo $(awk -F: -v p="$path" '$1 == p { print $2; exit }' "$dep")"
    done
}

copy_modules() {
    local src="$STAGING/lib/modules/$KVER" dst="$INITRAMFS/lib/modules/$KVER" path f
    local boot_modules closure
    boot_modules=$(grep -v '^#' "$GUEST_SRC/rootfs/etc/modules")
    closure=$(module_closure $boot_modules $DEMAND_MODULES)
    mkdir -p "$dst"
    for path in $closure; do
        mkdir -p "$dst/$(dirname "$path")"
        cp "$src/$path" "$dst/$path"
        # busybox modprobe loads plain .ko files only.
        case "$path" in
        *.ko.xz) xz -d "$dst/$path" ;;
        *.ko.zst|*.ko.gz) die "compressed module $path: add its decompressor here" ;;
        esac
    done
    for f in modules.builtin modules.builtin.modinfo; do
        [ -f "$src/$f" ] && cp "$src/$f" "$dst/$f"
    done
    # The load order of the shipped modules only (the full list is 160 KB).
    grep -Fx -f <(printf '%s\n' $closure | sed 's/\.xz$//') "$src/modules.order" > "$dst/modules.order" || true
    depmod -b "$INITRAMFS" "$KVER"
    MODULES_SHIPPED=$(cd "$dst" && find kernel -name '*.ko' | sed 's|.*/||; s|\.ko$||' | LC_ALL=C sort | tr '\n' ' ')
}

# Copies the shared libraries (and the dynamic loader) the ELF files in the
# initramfs need from the staging tree, until nothing is missing.
copy_libraries() {
    local changed=1 elf lib found dir interp
    local libdirs="lib/i386-linux-gnu usr/lib/i386-linux-gnu lib usr/lib"
    while [ "$changed" = 1 ]; do
        changed=0
        for elf in $(cd "$INITRAMFS" && find . -type f \( -path './bin/*' -o -path './sbin/*' -o -path './usr/*' -o -path './lib/*' \) ! -name '*.ko'); do
            readelf -h "$INITRAMFS/$elf" >/dev/null 2>&1 || continue
            interp=$(readelf -l "$INITRAMFS/$elf" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
            if [ -n "$interp" ] && [ ! -e "$INITRAMFS$interp" ]; then
                [ -e "$STAGING$interp" ] || die "dynamic loader $interp (for $elf) not in the packages"
                mkdir -p "$INITRAMFS$(dirname "$interp")"
                cp -L "$STAGING$interp" "$INITRAMFS$interp"
                changed=1
            fi
            for lib in $(readelf -d "$INITRAMFS/$elf" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
                found=""
                for dir in $libdirs; do
                    [ -e "$INITRAMFS/$dir/$lib" ] && { found=1; break; }
                done
                [ -n "$found" ] && continue
                for dir in $libdirs; do
                    if [ -e "$STAGING/$dir/$lib" ]; then
                        mkdir -p "$INITRAMFS/$dir"
                        cp -L "$STAGING/$dir/$lib" "$INITRAMFS/$dir/$lib"
                        found=1
                        changed=1
                        break
                    fi
                done
                [ -n "$found" ] || die "$lib (needed by $elf) is in none of the packages: add its package to GUEST_PACKAGES"
            done
        done
    done
}

install_busybox() {
    local applet applets
    mkdir -p "$INITRAMFS/bin"
    cp "$STAGING/bin/busybox" "$INITRAMFS/bin/busybox"
    # The i386 busybox runs on the host under qemu-user just to list its applets.
    applets=$(qemu-i386 "$STAGING/bin/busybox" --list-full) \
        || die "qemu-i386 could not run busybox --list-full"
    for applet in $applets; do
        case "$applet" in
        bin/busybox|linuxrc) continue ;;
        esac
        mkdir -p "$INITRAMFS/$(dirname "$applet")"
        ln -sf /bin/busybox "$INITRAMFS/$applet"
    done
    [ -L "$INITRAMFS/bin/sh" ] && [ -L "$INITRAMFS/sbin/init" ] && [ -L "$INITRAMFS/sbin/modprobe" ] \
        || die "busybox-static lacks sh, init or modprobe"
}

make_keys() {
    # Kept across rebuilds (and --force): delete them to get new ones.
    if [ ! -f "$OUT/dropbear_ed25519_host_key" ]; then
        dropbearkey -t ed25519 -f "$OUT/dropbear_ed25519_host_key" >/dev/null 2>&1 \
            || die "dropbearkey could not make the guest host key"
        note "new guest host key $OUT/dropbear_ed25519_host_key"
    fi
    if [ ! -f "$OUT/guest_key" ] || [ ! -f "$OUT/guest_key.pub" ]; then
        rm -f "$OUT/guest_key" "$OUT/guest_key.pub"
        ssh-keygen -q -t ed25519 -N '' -C bubble-guest-test -f "$OUT/guest_key" \
            || die "ssh-keygen could not make $OUT/guest_key"
        note "new test key $OUT/guest_key"
    fi
}

build_initramfs() {
    local d epoch
    rm -rf "$INITRAMFS"
    mkdir -p "$INITRAMFS"
    for d in proc sys dev dev/pts tmp run mnt root etc/dropbear var/log lib usr/bin usr/sbin; do
        mkdir -p "$INITRAMFS/$d"
    done
    install_busybox
    cp -a "$GUEST_SRC/rootfs/." "$INITRAMFS/"
    local prog
    for prog in $GUEST_PROGRAMS; do
        mkdir -p "$INITRAMFS/$(dirname "$prog")"
        cp "$STAGING/$prog" "$INITRAMFS/$prog"
    done
    copy_libraries
    copy_modules
    cp "$OUT/dropbear_ed25519_host_key" "$INITRAMFS/etc/dropbear/dropbear_ed25519_host_key"
    chmod 600 "$INITRAMFS/etc/dropbear/dropbear_ed25519_host_key"
    mkdir -p "$INITRAMFS/root/.ssh"
    cp "$OUT/guest_key.pub" "$INITRAMFS/root/.ssh/authorized_keys"
    chmod 700 "$INITRAMFS/root" "$INITRAMFS/root/.ssh"
    chmod 600 "$INITRAMFS/root/.ssh/authorized_keys" "$INITRAMFS/etc/shadow"
    chmod 1777 "$INITRAMFS/tmp"
    # The kernel's built-in initramfs already has /dev/console; ours too when
    # we may create device nodes (the kernel needs it before devtmpfs).
    if is_root; then
        mknod -m 600 "$INITRAMFS/dev/console" c 5 1
    fi
    # Same inputs, same archive: fixed times, sorted names, root ownership.
    epoch=$(stat -c %Y "$STAGING/boot/vmlinuz-$KVER")
    find "$INITRAMFS" -exec touch -h -d "@$epoch" {} +
    (cd "$INITRAMFS" && find . -print0 | LC_ALL=C sort -z \
        | cpio --null --create --format=newc --owner=0:0 --reproducible --quiet) \
        | gzip -9 -n > "$OUT/initrd.gz.tmp"
    mv "$OUT/initrd.gz.tmp" "$OUT/initrd.gz"
    cp "$STAGING/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
    note "vmlinuz $(stat -c %s "$OUT/vmlinuz") bytes, initrd.gz $(stat -c %s "$OUT/initrd.gz") bytes"
    note "modules: $MODULES_SHIPPED"
}

# ------------------------------------------------------------------ disk.img
build_disk() {
    local img="$OUT/disk.img.tmp" part_offset=$((PART_START * 512))
    local part_sectors=$((DISK_MIB * 2048 - PART_START))
    rm -f "$img"
    truncate -s "${DISK_MIB}M" "$img"
    # One bootable FAT16 (LBA) partition; fixed disk id for reproducibility.
    printf 'label: dos\nlabel-id: 0x62627562\nstart=%d, type=e, bootable\n' "$PART_START" \
        | sfdisk --quiet "$img"
    dd if=/usr/lib/syslinux/mbr/mbr.bin of="$img" bs=440 count=1 conv=notrunc status=none
    # mtools and syslinux work on the partition at its offset: nothing is
    # mounted, so no loop devices or privileges are needed.
    mformat -i "$img@@$part_offset" -T "$part_sectors" -h 64 -s 32 -H "$PART_START" \
        -N 62756262 -v BUBBLE ::
    syslinux --offset "$part_offset" --install "$img"
    mcopy -i "$img@@$part_offset" -m "$OUT/vmlinuz" "$OUT/initrd.gz" ::/
    mcopy -i "$img@@$part_offset" "$GUEST_SRC/syslinux.cfg" ::/syslinux.cfg
    mv "$img" "$OUT/disk.img"
    note "disk.img $(du -k "$OUT/disk.img" | cut -f1) KiB used of $DISK_MIB MiB (sparse)"
}

# ----------------------------------------------------------------- guest.iso
build_iso() {
    local tree="$BUILD/iso"
    rm -rf "$tree"
    mkdir -p "$tree/isolinux"
    cp /usr/lib/ISOLINUX/isolinux.bin "$tree/isolinux/"
    cp /usr/lib/syslinux/modules/bios/ldlinux.c32 "$tree/isolinux/"
    cp "$GUEST_SRC/syslinux.cfg" "$tree/isolinux/isolinux.cfg"
    cp "$OUT/vmlinuz" "$OUT/initrd.gz" "$tree/"
    rm -f "$OUT/guest.iso.tmp"
    xorriso -as mkisofs -quiet -o "$OUT/guest.iso.tmp" -V BUBBLE -J -R \
        -b isolinux/isolinux.bin -c isolinux/boot.cat \
        -no-emul-boot -boot-load-size 4 -boot-info-table \
        -isohybrid-mbr /usr/lib/ISOLINUX/isohdpfx.bin "$tree" > "$BUILD/xorriso.log" 2>&1 \
        || { cat "$BUILD/xorriso.log" >&2; die "xorriso failed"; }
    mv "$OUT/guest.iso.tmp" "$OUT/guest.iso"
    note "guest.iso $(stat -c %s "$OUT/guest.iso") bytes"
}

# ---------------------------------------------------------------------- main
inputs_hash() {
    # This script, the guest's files, the package versions and the keys.
    {
        cat "${BASH_SOURCE[0]}"
        (cd "$GUEST_SRC" && find rootfs syslinux.cfg -type f -print0 | LC_ALL=C sort -z \
            | xargs -0 sha256sum)
        (cd "$GUEST_SRC" && find rootfs -type f -perm -u+x | LC_ALL=C sort)
        printf '%s' "$VERSIONS"
        cat "$OUT/dropbear_ed25519_host_key" "$OUT/guest_key.pub"
        dpkg-query -W syslinux syslinux-common isolinux xorriso mtools 2>/dev/null
    } | sha256sum | cut -d' ' -f1
}

step "checking host tools"
check_host_tools

step "resolving i386 package versions"
setup_apt

step "downloading packages"
download_packages

step "extracting packages"
if stamp_ok extract "$VERSIONS" && [ -f "$STAGING/boot/vmlinuz-$KVER" ]; then
    note "up to date"
else
    extract_packages
    stamp_set extract "$VERSIONS"
fi

make_keys
KEY=$(inputs_hash)

step "building vmlinuz and initrd.gz"
if stamp_ok initrd "$KEY" && [ -f "$OUT/initrd.gz" ] && [ -f "$OUT/vmlinuz" ]; then
    note "up to date"
else
    build_initramfs
    stamp_set initrd "$KEY"
fi

step "building disk.img"
if stamp_ok disk "$KEY" && [ -f "$OUT/disk.img" ]; then
    note "up to date"
else
    build_disk
    stamp_set disk "$KEY"
fi

step "building guest.iso"
if stamp_ok iso "$KEY" && [ -f "$OUT/guest.iso" ]; then
    note "up to date"
else
    build_iso
    stamp_set iso "$KEY"
fi

echo "build-guest: done: $OUT/{vmlinuz,initrd.gz,disk.img,guest.iso,guest_key}"
