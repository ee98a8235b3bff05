import { stopCluster } from './cluster.ts';
import { CONTROL_PLANE_DIR, controlPlaneStatus, runningControlPlane } from './control-plane.ts';
import { clusterNode, controlPlane, netemNode } from './index.ts';
import { deployKerris, KERRIS_NAMESPACE } from './kerris.ts';
import { netemNodeTimings, runningNetemNode } from './netem-node/index.ts';
import { runningNode } from './node/index.ts';
import { PrerequisiteError } from './prerequisites.ts';

const usage = `usage: npm run cluster -- <up [--node] [--netem-node] | kerris [--netem-node] | down | status | env>
  up      start etcd, kube-apiserver, kube-controller-manager and kube-scheduler on this machine
  --node  also start a real node (containerd + kubelet)
  --netem-node  also start the node and a second node in a VM with Debian's stock kernel (sch_netem), kerris-netem,
          tainted kerris.dev/netem-node=true:NoSchedule (about 35 s and 2 GB; see docs/development.md)
  kerris  start the cluster with its node if needed, build kerris's images from this checkout and deploy deploy/
          (on the netem node too while it runs, or with --netem-node after starting it)
  down    stop everything and remove what the test bed created
  status  say what runs
  env     print shell exports for KUBECONFIG and PATH`;

async function main(args: readonly string[]): Promise<number> {
  const [command, ...flags] = args;
  switch (command) {
    case 'up': {
      const started = Date.now();
      const plane = await controlPlane();
      process.stderr.write(`control plane ready at ${plane.server} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      if (flags.includes('--node') || flags.includes('--netem-node')) {
        const { node } = await clusterNode();
        process.stderr.write(`node ${node.name} Ready at ${node.internalIP} in ${((Date.now() - started) / 1000).toFixed(1)} s (pods on ${node.podSubnet})\n`);
      }
      if (flags.includes('--netem-node')) {
        const { netem } = await netemNode();
        process.stderr.write(`netem node ${netem.name} (kernel ${netem.kernelVersion}) Ready at ${netem.internalIP} in ${((Date.now() - started) / 1000).toFixed(1)} s (pods on ${netem.podSubnet})\n`);
      }
      process.stdout.write(`KUBECONFIG=${plane.kubeconfig}\n`);
      return 0;
    }
    case 'kerris': {
      const started = Date.now();
      const { plane, node } = flags.includes('--netem-node') ? await netemNode() : await clusterNode();
      const netem = await runningNetemNode(plane, node);
      process.stderr.write(`cluster and node ${node.name}${netem ? ` and ${netem.name}` : ''} Ready in ${((Date.now() - started) / 1000).toFixed(1)} s; building and deploying kerris\n`);
      const deployed = await deployKerris(plane, node);
      process.stdout.write(`KUBECONFIG=${plane.kubeconfig}\n`);
      process.stdout.write(`kerris is running in ${KERRIS_NAMESPACE} after ${((Date.now() - started) / 1000).toFixed(1)} s: `
        + `controller ${deployed.controllerReplicas} replicas Ready (image ${deployed.images.controller.key.slice(0, 16)}), `
        + `daemon ${deployed.daemonPods.length} pods Ready: ${deployed.daemonPods.join(', ')} (image ${deployed.images.daemon.key.slice(0, 16)})\n`);
      return 0;
    }
    case 'down':
      await stopCluster();
      process.stderr.write('test bed stopped; nothing left behind\n');
      return 0;
    case 'status': {
      for (const component of await controlPlaneStatus()) {
        process.stdout.write(`${component.name.padEnd(24)} ${component.pid === undefined ? 'stopped' : `running (pid ${component.pid})`}\n`);
      }
      const plane = await runningControlPlane();
      const node = plane ? await runningNode(plane) : undefined;
      process.stdout.write(`${'node'.padEnd(24)} ${node ? `${node.name} running (kubelet, containerd, kube-proxy)` : 'stopped'}\n`);
      const netem = plane && node ? await runningNetemNode(plane, node) : undefined;
      const timings = netem && plane ? await netemNodeTimings(plane) : undefined;
      process.stdout.write(`${'netem node'.padEnd(24)} ${netem
        ? `${netem.name} running in a VM (kernel ${netem.kernelVersion}, ${netem.internalIP}, pods ${netem.podSubnet}${timings ? `, Ready ${timings.readyS.toFixed(1)} s after start` : ''})`
        : 'stopped'}\n`);
      return 0;
    }
    case 'env': {
      const plane = await runningControlPlane();
      if (!plane) {
        process.stderr.write(`no running control plane in ${CONTROL_PLANE_DIR}; run \`npm run cluster -- up\`\n`);
        return 1;
      }
      process.stdout.write(`export KUBECONFIG=${plane.kubeconfig}\nexport PATH=${plane.binDir}:$PATH\n`);
      return 0;
    }
    default:
      process.stderr.write(`${usage}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (error: unknown) => {
  const prefix = error instanceof PrerequisiteError ? 'missing prerequisite: ' : '';
  process.stderr.write(`cluster: ${prefix}${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
