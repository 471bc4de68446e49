#!/bin/bash
# Boots the reference guest made by tools/build-guest.sh under QEMU (software
# emulation, the same as our emulator will be judged against) in the ways
# Bubble will boot it, and checks each one from the serial console and
# over SSH:
#   kernel  -kernel vmlinuz -initrd initrd.gz -append console=ttyS0
#   disk    -hda disk.img   (SYSLINUX from the MBR)
#   iso     -cdrom guest.iso -boot d   (ISOLINUX)
#   isa     as kernel, with an ISA NE2000 at 0x300 IRQ 10 instead of the PCI
#           one (ne.io=0x300 ne.irq=10 on the command line; IRQ 9 is QEMU's
#           ACPI interrupt)
# Each boot must reach the shell prompt on ttyS0, print the 686 kernel from
# 'uname -a', mount what it booted from, get a DHCP lease on its NE2000 and
# answer 'ssh -i images/guest_key root@127.0.0.1 uname -a' through a QEMU
# port forward on a free loopback port. Host seconds from QEMU's start are
# printed for each milestone; the consoles are logged to images/qemu-*.log.
# A developer tool, not part of the test suite.
#
# usage: tools/guest/check-with-qemu.sh [--images DIR] [kernel|disk|iso|isa]...
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
IMAGES="$REPO/images"
MODES=""
while [ $# -gt 0 ]; do
    case "$1" in
    --images) IMAGES="$2"; shift ;;
    --images=*) IMAGES="${1#--images=}" ;;
    kernel|disk|iso|isa) MODES="$MODES $1" ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-with-qemu: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
MODES=${MODES:-kernel disk iso isa}

for f in vmlinuz initrd.gz disk.img guest.iso guest_key; do
    [ -f "$IMAGES/$f" ] || { echo "check-with-qemu: $IMAGES/$f missing: run tools/build-guest.sh" >&2; exit 1; }
done
for tool in qemu-system-i386 python3 ssh; do
    command -v "$tool" >/dev/null || { echo "check-with-qemu: $tool not found (apt-get install qemu-system-x86 python3 openssh-client)" >&2; exit 1; }
done
# ssh refuses a private key that others can read.
chmod 600 "$IMAGES/guest_key"

# -no-reboot makes a guest reboot or triple fault end QEMU instead of looping.
QEMU=(qemu-system-i386 -accel tcg -cpu pentium3 -m 256 -nographic -no-reboot)
PCI_NIC=(-nic "user,model=ne2k_pci,hostfwd=tcp:127.0.0.1:PORT-:22")
UNAME=(--command "uname -a" --expect "Linux bubble 6\\.1\\.0-[0-9]+-686 .* i686 GNU/Linux")
# ext2 on a loop device: the kernel loads loop's and ext4's modules on demand.
EXT2=(--command "dd if=/dev/zero of=/tmp/e.img bs=1k count=2048 2>/dev/null && losetup /dev/loop0 /tmp/e.img && mke2fs -q /dev/loop0 >/dev/null && mount -t ext2 /dev/loop0 /mnt && echo ext2-ok > /mnt/f && cat /mnt/f && umount /mnt && losetup -d /dev/loop0"
      --expect "^ext2-ok")

status=0
for mode in $MODES; do
    case "$mode" in
    kernel)
        args=("${PCI_NIC[@]}" -kernel "$IMAGES/vmlinuz" -initrd "$IMAGES/initrd.gz" -append console=ttyS0)
        checks=("${UNAME[@]}" --command "cat /proc/cmdline" --expect "^console=ttyS0"
                "${EXT2[@]}") ;;
    disk)
        args=("${PCI_NIC[@]}" -drive "file=$IMAGES/disk.img,format=raw,if=ide,index=0,snapshot=on")
        checks=("${UNAME[@]}" --command "cat /proc/cmdline" --expect "console=ttyS0"
                --command "mount -t vfat -o ro /dev/sda1 /mnt && ls /mnt && umount /mnt"
                --expect "initrd.gz") ;;
    iso)
        args=("${PCI_NIC[@]}" -cdrom "$IMAGES/guest.iso" -boot d)
        checks=("${UNAME[@]}" --command "mount -t iso9660 -o ro /dev/sr0 /mnt && ls /mnt/isolinux && umount /mnt"
                --expect "isolinux.bin") ;;
    isa)
        args=(-kernel "$IMAGES/vmlinuz" -initrd "$IMAGES/initrd.gz"
              -append "console=ttyS0 ne.io=0x300 ne.irq=10"
              -netdev "user,id=n0,hostfwd=tcp:127.0.0.1:PORT-:22"
              -device "ne2k_isa,netdev=n0,iobase=0x300,irq=10")
        checks=("${UNAME[@]}" --command "dmesg | grep 'NE2000 found'" --expect "eth0: NE2000 found at 0x300") ;;
    esac
    echo "== $mode: ${QEMU[*]} ${args[*]}"
    python3 "$REPO/tools/guest/qemu_console.py" --name "$mode" --log "$IMAGES/qemu-$mode.log" \
        --ssh-key "$IMAGES/guest_key" "${checks[@]}" -- "${QEMU[@]}" "${args[@]}" || status=1
done
exit $status
