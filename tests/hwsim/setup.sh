#!/usr/bin/env bash
# Prepares what the hwsim VM tests need (tests/hwsim/README.md), and only what is missing:
#   - Debian packages the guest runs from the host root (QEMU, hostapd, wpa_supplicant, ...);
#   - Debian's generic kernel, which has mac80211_hwsim, unpacked (not installed) into
#     CACHE/kernel/, its modules indexed with depmod, and its uncompressed vmlinux for a
#     PVH boot (no BIOS, no decompression: about 3 s less per boot under TCG);
#   - a busybox initramfs that mounts the host root read-only over 9p with a tmpfs overlay.
# A second run checks stamps and returns in about a second, downloading nothing.
#
# Usage: tests/hwsim/setup.sh CACHE_DIR        (scripts/deps.sh passes target/hwsim)
#
# Kernel choice: on the first run, the linux-image-*-amd64 package that Debian's
# linux-image-amd64 depends on at that moment (HWSIM_KERNEL_PKG=NAME overrides it). The
# choice is recorded in CACHE/kernel.pkg ("NAME VERSION") and kept until the cache is
# removed or HWSIM_KERNEL_PKG names another package: re-runs never ask apt again.
set -euo pipefail
cache=${1:?usage: setup.sh CACHE_DIR}
here=$(cd "$(dirname "$0")" && pwd)

say() { printf 'hwsim-setup: %s\n' "$*"; }
die() { say "$*" >&2; exit 1; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_get() { DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 "$@"; }

# What runs in the guest comes from the host root, so it is installed here. busybox-static
# gives the initramfs its shell and the guest udhcpc; kmod gives depmod/modprobe; cpio packs
# the initramfs; python3 unpacks vmlinux and serves /generate_204; wireless-regdb spares
# cfg80211 a failed firmware lookup.
packages=(qemu-system-x86 busybox-static kmod cpio python3 hostapd wpasupplicant iw iproute2
  dnsmasq-base wireless-regdb)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
exec 9>"$cache/.lock"
flock 9

# ---- the guest kernel
recorded=$(cat "$cache/kernel.pkg" 2>/dev/null || true)
if [ -z "$recorded" ] || [ ! -f "$cache/kernel/.done" ] ||
  { [ -n "${HWSIM_KERNEL_PKG:-}" ] && [ "${recorded%% *}" != "$HWSIM_KERNEL_PKG" ]; }; then
  resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'; }
  pkg=${HWSIM_KERNEL_PKG:-$(resolve)}
  if [ -z "$pkg" ]; then
    apt_get update -qq
    pkg=$(resolve)
  fi
  [ -n "$pkg" ] || die "cannot tell which kernel linux-image-amd64 depends on (apt-cache depends)"
  say "fetching guest kernel $pkg (once)"
  rm -rf "$cache/kernel" "$cache/kernel.tmp" "$cache/download"
  mkdir -p "$cache/download"
  (cd "$cache/download" && $sudo apt-get -o APT::Sandbox::User=root download -q "$pkg" >/dev/null) ||
    { apt_get update -qq && (cd "$cache/download" && $sudo apt-get -o APT::Sandbox::User=root download -q "$pkg" >/dev/null); } ||
    die "apt-get download $pkg failed"
  deb=$(ls "$cache/download/${pkg}"_*.deb)
  version=$(dpkg-deb -f "$deb" Version)
  dpkg-deb -x "$deb" "$cache/kernel.tmp"
  rm -rf "$cache/download"
  kver=$(ls "$cache/kernel.tmp/lib/modules")
  [ -f "$cache/kernel.tmp/lib/modules/$kver/kernel/drivers/net/wireless/virtual/mac80211_hwsim.ko" ] ||
    [ -f "$cache/kernel.tmp/lib/modules/$kver/kernel/drivers/net/wireless/mac80211_hwsim.ko" ] ||
    die "$pkg has no mac80211_hwsim module (the -cloud- flavour has none)"
  depmod -b "$cache/kernel.tmp" "$kver"
  # vmlinuz is a bzImage whose payload is an xz stream; the ELF inside has a PVH entry note.
  python3 - "$cache/kernel.tmp/boot/vmlinuz-$kver" "$cache/kernel.tmp/vmlinux" <<'EOF'
import lzma, sys
image = open(sys.argv[1], "rb").read()
start = image.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("no xz stream in " + sys.argv[1])
elf = lzma.LZMADecompressor().decompress(image[start:])
if elf[:4] != b"\x7fELF":
    sys.exit("the xz stream in " + sys.argv[1] + " is not an ELF vmlinux")
open(sys.argv[2], "wb").write(elf)
EOF
  echo "$kver" >"$cache/kernel.tmp/.done"
  mv "$cache/kernel.tmp" "$cache/kernel"
  echo "$pkg $version" >"$cache/kernel.pkg"
fi
kver=$(cat "$cache/kernel/.done")

# ---- the initramfs, rebuilt when this script, guest-init.sh or the kernel changes
stamp="$(cat "$0" "$here/guest-init.sh" | sha256sum | cut -c1-16) $(cat "$cache/kernel.pkg")"
if [ "$(cat "$cache/initramfs.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -f "$cache/initramfs.cpio.gz" ]; then
  say "building the initramfs"
  root=$(mktemp -d "$cache/initramfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,dev,proc,sys,lower,upper,newroot,modules}
  cp /bin/busybox "$root/bin/busybox"
  : >"$root/modules/order"
  # Modules in load order (modprobe prints the dependencies first); what is built in is skipped.
  modprobe -d "$cache/kernel" -S "$kver" --show-depends -a virtio_pci 9pnet_virtio 9p overlay |
    awk '$1 == "insmod" { print $2 }' | while read -r m; do
      b=$(basename "$m")
      grep -qxF "$b" "$root/modules/order" && continue
      cp "$m" "$root/modules/$b"
      echo "$b" >>"$root/modules/order"
    done
  cp "$here/guest-init.sh" "$root/guest-init"
  # The initramfs /init (busybox sh): mount the host root read-only over 9p with a tmpfs
  # overlay, the result dir read-write at its host path (kernel argument hwsim_results, which
  # the kernel hands to init as an environment variable), then switch_root to guest-init.
  cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
kver='$kver'
modules='$cache/kernel/lib/modules/$kver'
EOF
  cat >>"$root/init" <<'EOF'
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
fail() { echo "hwsim initramfs: $* failed"; reboot -f; sleep 10; }
for m in $(cat /modules/order); do insmod "/modules/$m" || fail "insmod $m"; done
p9=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o "$p9,ro,cache=loose" hostroot /lower || fail "mount the host root (9p)"
mount -t tmpfs -o mode=0755 tmpfs /upper || fail "mount tmpfs"
mkdir -p /upper/data /upper/work
new=/newroot
mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work overlay $new || fail "mount overlay"
for d in dev proc sys; do mount --move /$d $new/$d; done
mount -t tmpfs -o mode=0755 tmpfs $new/run
mount -t tmpfs -o mode=1777 tmpfs $new/tmp
mkdir -p $new/dev/pts $new/dev/shm $new/run/hwsim
mount -t devpts -o mode=0620,ptmxmode=0666 devpts $new/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $new/dev/shm
mount -t debugfs debugfs $new/sys/kernel/debug || fail "mount debugfs"
[ -n "$hwsim_results" ] || fail "no hwsim_results= kernel argument"
mkdir -p "$new$hwsim_results"
mount -t 9p -o "$p9" results "$new$hwsim_results" || fail "mount the result dir $hwsim_results"
mkdir -p $new/lib/modules
ln -sfn "$modules" "$new/lib/modules/$kver"
cp /guest-init $new/run/hwsim/init
hostname hwsim
ip link set lo up
exec switch_root $new /bin/busybox sh /run/hwsim/init
EOF
  chmod +x "$root/init" "$root/guest-init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$cache/initramfs.cpio.gz.tmp"
  mv "$cache/initramfs.cpio.gz.tmp" "$cache/initramfs.cpio.gz"
  rm -rf "$root"
  trap - EXIT
  echo "$stamp" >"$cache/initramfs.stamp"
fi

# What the Rust harness reads (tests/common/hwsim.rs): one key=value a line.
cat >"$cache/vm.conf.tmp" <<EOF
kernel=$cache/kernel/vmlinux
initramfs=$cache/initramfs.cpio.gz
kernel_version=$kver
kernel_package=$(cat "$cache/kernel.pkg")
EOF
mv "$cache/vm.conf.tmp" "$cache/vm.conf"
