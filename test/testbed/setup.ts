import { ensureHelm } from './helm-build.ts';
import { ensureKubernetesBinaries } from './k8s-build.ts';
import { ensureDebianPackages } from './prerequisites.ts';

/** Debian packages the test bed and kerris's tests use; installed on a fresh machine. */
export const DEBIAN_PACKAGES = [
  'busybox-static', 'chromium', 'containerd', 'containernetworking-plugins', 'conntrack', 'cpio', 'gcc', 'iproute2', 'ipset',
  'iptables', 'iputils-ping', 'kmod', 'libc6-dev', 'libfaketime', 'nftables', 'openssl', 'prometheus', 'prometheus-blackbox-exporter', 'qemu-system-x86', 'runc', 'socat', 'stress-ng', 'tar', 'util-linux', 'xz-utils',
] as const;

/** Brings a fresh machine to where every test can run: Debian packages, then the Kubernetes and helm builds. */
export async function setUpMachine(): Promise<void> {
  await ensureDebianPackages(DEBIAN_PACKAGES);
  await ensureKubernetesBinaries();
  await ensureHelm();
}
