#!/bin/sh
# The netem node inside the kernel VM: run by guest/run-command.sh in the chroot of the host's root (the VM's own
# kernel, Debian's stock one with sch_netem), as the one command of a VM that netem-node/index.ts started and that
# runs until the host kills it. It brings up eth0 on the host's tap, mounts cgroup v2, starts containerd and the
# kubelet (the host's binaries, through the read-only share) and then serves image imports the host asks for.
# Everything it needs comes in the environment (index.ts, guestEnvironment); what it says goes to the share's
# logs/, which the host reads live (that share is mounted with cache=none).
set -eu

exchange=/run/kerris/run-dir
logs=$exchange/logs
mkdir -p "$logs" "$exchange/import"
log() { echo "$(cut -d' ' -f1 /proc/uptime) netem-node: $*" >>"$logs/guest.log"; }
fail() {
  log "failed: $*"
  echo "$*" >"$exchange/failed"
  exit 1
}
# set -e ends the script on any failed step; the host learns of it from the share, not only from a missing heartbeat.
trap 'fail "a step failed (see logs/guest.log and guest.stderr on the host)"' EXIT
log "started"
# kill -0 would also succeed on a zombie: a child that exited stays one until this shell waits for it.
alive() {
  state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != Z ]
}

# -nodefaults and the initramfs leave the NIC driver out; no udev here loads it on its own. The balloon reports
# freed pages to qemu, which gives them back to the host.
modprobe virtio_net || fail "cannot load virtio_net"
modprobe virtio_balloon || fail "cannot load virtio_balloon"
# nftables (kerris's partition, and loss where netem is missing): the kernel's own requests for these modules find
# no modprobe that resolves them in this guest, so they are loaded here, as a node that uses nftables has them.
modprobe nf_tables || fail "cannot load nf_tables"
modprobe nft_numgen || fail "cannot load nft_numgen"
ip link set lo up
ip link set eth0 up || fail "no eth0 (is the tap there?)"
ip addr add "$NODE_ADDRESS/$LINK_PREFIX" dev eth0
ip route add default via "$HOST_ADDRESS"
# Pods' traffic to and from the host crosses eth0; the bridge plugin turns this on too, but only at the first pod.
echo 1 >/proc/sys/net/ipv4/ip_forward
log "network up: $NODE_ADDRESS/$LINK_PREFIX via $HOST_ADDRESS"

# A plain cgroup v2 hierarchy, as on a current Debian node. kubelet wants every controller the kernel has (hugetlb
# too) in its cgroup root, so all of them are handed down.
mount -t cgroup2 cgroup2 /sys/fs/cgroup || fail "cannot mount cgroup2"
controllers=$(sed 's/\([a-z_]*\)/+\1/g' /sys/fs/cgroup/cgroup.controllers)
echo "$controllers" >/sys/fs/cgroup/cgroup.subtree_control
mkdir -p "/sys/fs/cgroup$CGROUP_ROOT"
echo "$controllers" >"/sys/fs/cgroup$CGROUP_ROOT/cgroup.subtree_control"

# The node's state dir exists in the guest only (its /run is a tmpfs of the guest's memory): containerd's overlay
# snapshots cannot live on the overlay over the host root.
mkdir -p "$CONTAINERD_DIR" "$KUBELET_ROOT"
containerd --config "$CONTAINERD_CONFIG" >>"$logs/containerd.log" 2>&1 &
containerd_pid=$!
tries=0
until ctr --address "$CONTAINERD_SOCKET" version >/dev/null 2>&1; do
  alive "$containerd_pid" || fail "containerd exited at start (see logs/containerd.log)"
  tries=$((tries + 1))
  [ "$tries" -gt 600 ] && fail "containerd did not answer within 120 s"
  sleep 0.2
done
log "containerd up"

# Images first: a pod's sandbox needs the pause image before the kubelet's first pod starts.
import_one() {
  request=$1
  id=$(basename "$request" .ready)
  archive=$exchange/import/$id.tar
  if ctr --address "$CONTAINERD_SOCKET" --namespace k8s.io images import --snapshotter overlayfs "$archive" \
      >"$exchange/import/$id.out" 2>&1; then
    code=0
  else
    code=$?
  fi
  rm -f "$archive" "$request"
  echo "$code" >"$exchange/import/$id.code.tmp"
  mv "$exchange/import/$id.code.tmp" "$exchange/import/$id.code"
  log "import $id: exit $code"
}
serve_imports() {
  for request in "$exchange"/import/*.ready; do
    [ -e "$request" ] && import_one "$request"
  done
  return 0
}
# Every boot starts from an empty containerd (its state is in this guest's memory): the images the host keeps for
# boots go in first, and a reboot finds them again.
for archive in "$exchange"/images/*.tar; do
  [ -e "$archive" ] || continue
  ctr --address "$CONTAINERD_SOCKET" --namespace k8s.io images import --snapshotter overlayfs "$archive" \
    >>"$logs/containerd.log" 2>&1 || fail "cannot import $(basename "$archive") (see logs/containerd.log)"
  log "imported $(basename "$archive")"
done
serve_imports

# This node may be rebooted by kerris (NodeChaos node-reboot): its consent is a file in the node's kerris settings,
# the daemon's node-config hostPath. That path is in this guest's memory only; the host node, the machine the tests
# run on, never has the file, so its daemon refuses to reboot it.
mkdir -p "$DAEMON_NODE_CONFIG"
echo "the test bed's netem node: a VM that reboots in place" >"$DAEMON_NODE_CONFIG/allow-node-reboot"

"$KUBELET" --config="$KUBELET_CONFIG" --kubeconfig="$KUBELET_KUBECONFIG" --root-dir="$KUBELET_ROOT" \
  --cert-dir="$KUBELET_CERT_DIR" --hostname-override="$NODE_NAME" --node-ip="$NODE_ADDRESS" \
  --node-labels="$NODE_LABELS" --register-with-taints="$NODE_TAINTS" --v=2 >>"$logs/kubelet.log" 2>&1 &
kubelet_pid=$!
log "kubelet started"

while :; do
  alive "$containerd_pid" || fail "containerd exited (see logs/containerd.log)"
  alive "$kubelet_pid" || fail "kubelet exited (see logs/kubelet.log)"
  serve_imports
  # Under TCG this loop costs the guest too; a second is quick enough for an import and for noticing a dead kubelet.
  sleep 1
done
