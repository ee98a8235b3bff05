#!/bin/sh
# PID 1 of the kerris kernel VM, run by busybox sh from the initramfs that initramfs.ts builds.
# It loads the modules listed in /etc/kerris/modules (already in dependency order), puts a tmpfs
# overlay over the host root (shared read-only over 9p), runs the one command the host asked for
# in a chroot, writes its exit code to the run directory and powers off.
# Everything this script prints goes to the serial console (a log on the host), never to the
# command's stdout or stderr, which are the virtio ports named kerris.stdout and kerris.stderr.
PATH=/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/null >/dev/console 2>&1

run_dir_ready=no
power_off() {
  sync
  poweroff -f
  # poweroff returns only if it failed; PID 1 exiting makes the kernel panic, and with
  # panic=-1 and qemu's -no-reboot that ends the VM too.
  exit 1
}
fail() {
  echo "kerris-vm: $*"
  [ "$run_dir_ready" = yes ] && echo "$*" >/run-dir/error
  power_off
}

kernel_modules=/lib/modules/$(uname -r)
while read -r module; do
  insmod "$kernel_modules/$module" || fail "cannot load module $module"
done </etc/kerris/modules

mkdir -p /run-dir /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=none kerrisrun /run-dir ||
  fail "cannot mount the run directory"
run_dir_ready=yes
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /lower ||
  fail "cannot mount the host root"
mount -t tmpfs -o mode=0755 tmpfs /rw || fail "cannot mount the overlay's tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
  fail "cannot mount the overlay over the host root"

mount -t proc proc /newroot/proc &&
  mount -t sysfs sysfs /newroot/sys &&
  mount -t devtmpfs devtmpfs /newroot/dev &&
  mkdir -p /newroot/dev/pts /newroot/dev/shm &&
  mount -t devpts devpts /newroot/dev/pts &&
  mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm &&
  mount -t tmpfs -o mode=0755 tmpfs /newroot/run ||
  fail "cannot mount the guest's proc, sys, dev and run"

# The guest's /tmp is an empty tmpfs; when the working directory is in the host's /tmp (a clone
# there), its top folder stays visible through the overlay, writable like the rest of it.
cwd=$(cat /run-dir/cwd)
case "$cwd" in
  /tmp/?*)
    kept=${cwd#/tmp/}
    kept=${kept%%/*}
    mkdir -p /kept-tmp &&
      mount --bind "/newroot/tmp/$kept" /kept-tmp &&
      mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp &&
      mkdir -p "/newroot/tmp/$kept" &&
      mount --move /kept-tmp "/newroot/tmp/$kept" ||
      fail "cannot keep /tmp/$kept visible over the guest's /tmp"
    ;;
  *)
    mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp || fail "cannot mount the guest's /tmp"
    ;;
esac

# The kernel's module tree (extracted on the host) serves kmod in the chroot and, bound over the
# initramfs copy, busybox modprobe for the modules the kernel asks for on its own.
host_modules=$(cat /run-dir/modules-dir)
mkdir -p /newroot/lib/modules &&
  mount --bind "/lower$host_modules" /newroot/lib/modules &&
  mount --bind "/lower$host_modules/$(uname -r)" "$kernel_modules" &&
  echo /bin/modprobe >/proc/sys/kernel/modprobe ||
  fail "cannot bind the kernel modules from $host_modules"

mkdir -p /newroot/run/kerris/bin /newroot/run/kerris/run-dir
cp /bin/busybox /etc/kerris/run-command.sh /newroot/run/kerris/bin/ &&
  mount --bind /run-dir /newroot/run/kerris/run-dir ||
  fail "cannot prepare the command's runner"

hostname kerris-vm
ip link set lo up || fail "cannot bring lo up"

port_device() {
  for port in /sys/class/virtio-ports/*; do
    [ "$(cat "$port/name" 2>/dev/null)" = "$1" ] && echo "/dev/${port##*/}" && return 0
  done
  return 1
}
# The host names the ports shortly after the driver binds them.
tries=0
until stdout=$(port_device kerris.stdout) && stderr=$(port_device kerris.stderr); do
  tries=$((tries + 1))
  [ "$tries" -gt 100 ] && fail "the virtio ports kerris.stdout and kerris.stderr did not appear"
  usleep 50000
done

cut -d' ' -f1 /proc/uptime >/run-dir/started
chroot /newroot /run/kerris/bin/busybox sh /run/kerris/bin/run-command.sh \
  /run/kerris/run-dir <"/dev/null" >"$stdout" 2>"$stderr"
code=$?
cut -d' ' -f1 /proc/uptime >/run-dir/finished
echo "$code" >/run-dir/status
power_off
