/**
 * node-reboot (NodeChaos): the node rebooted once, a one-time action (listed as done, nothing to revert). Its target
 * is the node itself; it acts on the running kernel, so there is nothing on the node to find first.
 *
 * Consent: the node must allow it, by the file `allow-node-reboot` in its kerris settings directory (the host's
 * /etc/kerris, which the DaemonSet mounts read-only at --node-config-dir). Without it the kind is not offered in
 * Capabilities and a request is UNAVAILABLE, whatever boot it names. It is checked at each Capabilities, at each
 * request, and once more right before the reboot.
 *
 * Never twice: the request names the boot the node must still run (the kubelet's status.nodeInfo.bootID, read when
 * the controller picked the node). On another boot the node has rebooted since, and the action does nothing and says
 * so. A repeated request (a lost answer, a controller or daemon restart) therefore never reboots a node again.
 *
 * Answer first: the action journals its decision (as every action does), then only schedules the reboot, about a
 * second later on a timer (libuv's timers run on the monotonic clock), so the Sync answer reaches the controller
 * before the node goes down. Then `sync`, and `b` written to /proc/sysrq-trigger: the kernel restarts at once
 * (the daemon is privileged with hostPID; writes to the trigger are not limited by kernel.sysrq).
 *
 * Across a daemon restart: a record that reached the journal as done is an action that ran; a restarted daemon keeps
 * it as done and reboots nothing, and the same Sync finds it and does nothing. If the daemon died in that second
 * (SIGKILL, OOM), the node is not rebooted: the controller judges the reboot by the node's new boot ID, not by this
 * answer, so it reports that the node did not reboot rather than that it did. A graceful shutdown (SIGTERM) does not
 * cancel a scheduled reboot: the timer keeps the daemon's process alive until it fires, so what was answered happens.
 */
import { access, constants, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bootId as currentBootId } from '../clock.ts';
import { DaemonError, errorMessage } from '../errors.ts';
import { checkBootId, type FaultSpec, type RawFault } from '../spec.ts';
import { run } from '../../util/exec.ts';
import type { Logger } from '../../util/log.ts';
import type { NodeAction, NodeKernelModule } from './module.ts';

/** The node's consent, a file in its kerris settings directory; its content is not read. */
export const CONSENT_FILE = 'allow-node-reboot';
/** How long after the answer the node goes down: time for the Sync response to leave the daemon. */
export const REBOOT_DELAY_MS = 1_000;
/** `sync` may hang on a stuck device; the reboot asked for still happens after this long. */
const SYNC_TIMEOUT_MS = 20_000;
const SYSRQ_TRIGGER = '/proc/sysrq-trigger';

/** A node-reboot request's fault in its canonical form; the boot ID must be one (spec.ts BOOT_ID). */
export function normalizeNodeReboot(raw: RawFault): FaultSpec {
  if (raw.kind !== 'node-reboot') throw new DaemonError('invalid', `the node-reboot module got a ${raw.kind} fault`);
  return { kind: 'node-reboot', bootId: checkBootId('node_reboot.boot_id', raw.bootId) };
}

/** What a request for boot `requested` does on a node running boot `now`. Pure. */
export function rebootDecision(requested: string, now: string): { reboot: boolean; summary: string } {
  if (requested !== now) return { reboot: false, summary: `already rebooted: the node runs boot ${now}, not ${requested}; nothing done` };
  return { reboot: true, summary: `reboot the node (boot ${now}): sync, then reboot through ${SYSRQ_TRIGGER}` };
}

/** Why node `node` does not consent to reboots (no consent file in `dir`), or undefined when it does. */
export async function consentRefusal(dir: string, node: string): Promise<string | undefined> {
  const file = join(dir, CONSENT_FILE);
  const found = await stat(file).then((s) => (s.isFile() ? 'file' : 'not a file'), (error: NodeJS.ErrnoException) => error.code ?? String(error));
  if (found === 'file') return undefined;
  const why = found === 'ENOENT' ? 'is missing' : found === 'not a file' ? 'is not a file' : `cannot be read (${found})`;
  return `node-reboot: node ${node} does not consent to reboots: ${file} ${why} (create /etc/kerris/${CONSENT_FILE} on nodes kerris may reboot)`;
}

/** Why the daemon cannot reboot node `node` through the sysrq trigger, or undefined when it can. */
async function triggerRefusal(node: string): Promise<string | undefined> {
  try {
    await access(SYSRQ_TRIGGER, constants.W_OK);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    const why = code === 'ENOENT' ? 'its kernel has no sysrq (CONFIG_MAGIC_SYSRQ)' : `the daemon may not write it (${code}; it must run privileged)`;
    return `node-reboot: node ${node} cannot be rebooted through ${SYSRQ_TRIGGER}: ${why}`;
  }
}

export interface NodeRebootOptions {
  node: string;
  /** --node-config-dir: the node's kerris settings, where its consent file is. */
  configDir: string;
  log: Logger;
}

export function nodeReboot(options: NodeRebootOptions): NodeKernelModule {
  const { node, configDir } = options;
  const log = options.log.child({ fault: 'node-reboot' });
  /** One reboot at most per daemon: a second request on the same boot (another ID) joins the one scheduled. */
  let scheduled = false;

  async function reboot(bootId: string): Promise<void> {
    // Consent withdrawn in the last second is still honoured; the controller then sees no new boot and says so.
    const refused = await consentRefusal(configDir, node);
    if (refused !== undefined) {
      log.error('reboot not done: the node withdrew its consent after the request', { bootId, reason: refused });
      return;
    }
    const synced = await run(['sync'], { timeoutMs: SYNC_TIMEOUT_MS }).then(() => undefined, (error: unknown) => errorMessage(error));
    if (synced !== undefined) log.warn('sync before the reboot failed; rebooting anyway', { error: synced });
    log.warn('rebooting the node now', { node, bootId });
    // O_WRONLY without O_CREAT: never a new file, only the kernel's trigger.
    await writeFile(SYSRQ_TRIGGER, 'b', { flag: constants.O_WRONLY });
  }

  return {
    kind: 'node-reboot',
    scope: 'node',
    on: 'kernel',
    async unavailableNow() {
      return await consentRefusal(configDir, node) ?? await triggerRefusal(node);
    },
    normalize: normalizeNodeReboot,
    async prepare(fault: FaultSpec): Promise<NodeAction> {
      if (fault.kind !== 'node-reboot') throw new DaemonError('invalid', `the node-reboot module got a ${fault.kind} fault`);
      // Consent first: a node that does not consent gets nothing from node-reboot, not even the answer about its boot.
      const refused = await consentRefusal(configDir, node);
      if (refused !== undefined) throw new DaemonError('unavailable', refused);
      const now = await currentBootId().catch((error: unknown) => {
        throw new DaemonError('unavailable', `node-reboot: nothing done: the boot ID of node ${node} cannot be read: ${errorMessage(error)}`, { cause: error });
      });
      const decision = rebootDecision(fault.bootId, now);
      if (!decision.reboot) return { kind: 'action', summary: decision.summary, run: () => Promise.resolve() };
      const noTrigger = await triggerRefusal(node);
      if (noTrigger !== undefined) throw new DaemonError('unavailable', `${noTrigger}; nothing done`);
      return {
        kind: 'action',
        summary: decision.summary,
        run: () => {
          if (scheduled) return Promise.resolve();
          scheduled = true;
          log.warn('node reboot scheduled', { node, bootId: now, inMs: REBOOT_DELAY_MS });
          // Not unref'd: a graceful shutdown in this second waits for it rather than leaving it undone.
          setTimeout(() => {
            reboot(now).catch((error: unknown) => {
              log.error('the node could not be rebooted', { node, bootId: now, error: errorMessage(error) });
            }).finally(() => {
              // Still running: the reboot did not happen, and a later request may ask for it again.
              scheduled = false;
            });
          }, REBOOT_DELAY_MS);
          return Promise.resolve();
        },
      };
    },
  };
}
