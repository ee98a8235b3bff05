import { stopCluster } from './cluster.ts';
import { CONTROL_PLANE_DIR, controlPlaneStatus, runningControlPlane } from './control-plane.ts';
import { clusterNode, controlPlane } from './index.ts';
import { deployKerris, KERRIS_NAMESPACE } from './kerris.ts';
import { runningNode } from './node/index.ts';
import { PrerequisiteError } from './prerequisites.ts';

const usage = `usage: npm run cluster -- <up [--node] | kerris | down | status | env>
  up      start etcd, kube-apiserver, kube-controller-manager and kube-scheduler on this machine
  --node  also start a real node (containerd + kubelet)
  kerris  start the cluster with its node if needed, build kerris's images from this checkout and deploy deploy/
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
      if (flags.includes('--node')) {
        const { node } = await clusterNode();
        process.stderr.write(`node ${node.name} Ready at ${node.internalIP} in ${((Date.now() - started) / 1000).toFixed(1)} s (pods on ${node.podSubnet})\n`);
      }
      process.stdout.write(`KUBECONFIG=${plane.kubeconfig}\n`);
      return 0;
    }
    case 'kerris': {
      const started = Date.now();
      const { plane, node } = await clusterNode();
      process.stderr.write(`cluster and node ${node.name} Ready in ${((Date.now() - started) / 1000).toFixed(1)} s; building and deploying kerris\n`);
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
