/** Prints what kerris's preflight finds on the VM's stock kernel, as JSON. */
import { probeCapabilities } from '../../../src/daemon/preflight.ts';

process.stdout.write(`${JSON.stringify(await probeCapabilities('kernel-vm'))}\n`);
