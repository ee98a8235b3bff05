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

# The guest covers /tmp and /run with empty tmpfs, so what the host keeps there stays out of the
# guest. The paths the host listed in keep/ (the working directory, and the checkout the test bed
# runs from: its node binary and tests, wherever it was cloned) stay visible at their host paths,
# writable through the overlay like the rest of the root. /overlay is the overlay alone, without
# the tmpfs mounted over it, to bind them from.
mkdir -p /overlay && mount --bind /newroot /overlay || fail "cannot bind the overlay"
mount -t proc proc /newroot/proc &&
  mount -t sysfs sysfs /newroot/sys &&
  mount -t devtmpfs devtmpfs /newroot/dev &&
  mkdir -p /newroot/dev/pts /newroot/dev/shm &&
  mount -t devpts devpts /newroot/dev/pts &&
  mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm &&
  mount -t tmpfs -o mode=0755 tmpfs /newroot/run &&
  mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp ||
  fail "cannot mount the guest's proc, sys, dev, run and tmp"

i=0
while [ -e "/run-dir/keep/$i" ]; do
  # $(...) drops trailing newlines; the dot appended after the file keeps them.
  kept=$(cat "/run-dir/keep/$i" && echo .)
  kept=${kept%.}
  i=$((i + 1))
  case "$kept" in
    /tmp/?* | /run/?*) ;;
    *) continue ;;
  esac
  # A path missing on the host is left to the command to report (run-command.sh names a missing cwd).
  [ -e "/overlay$kept" ] || continue
  mkdir -p "/newroot$kept" && mount --bind "/overlay$kept" "/newroot$kept" ||
    fail "cannot keep $kept visible over the guest's tmpfs"
done

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
if [ -e /run-dir/as-init ]; then
  # A command that runs the guest for good (the netem node) becomes PID 1 on the overlay moved onto /, as after a
  # switch_root: container runtimes need the root they see to be the mount namespace's own. In a chroot, setns()
  # into a container's mount namespace (runc exec) lands on the initramfs instead of the container's root.
  # When the command ends, the kernel panics on PID 1's exit and qemu (-no-reboot) ends with it.
  cd /newroot && mount --move . / || fail "cannot move the overlay onto /"
  exec chroot . /run/kerris/bin/busybox sh /run/kerris/bin/run-command.sh \
    /run/kerris/run-dir <"/dev/null" >"$stdout" 2>"$stderr"
fi
chroot /newroot /run/kerris/bin/busybox sh /run/kerris/bin/run-command.sh \
  /run/kerris/run-dir <"/dev/null" >"$stdout" 2>"$stderr"
code=$?
cut -d' ' -f1 /proc/uptime >/run-dir/finished
echo "$code" >/run-dir/status
power_off
