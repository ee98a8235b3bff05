/**
 * The undo steps of kerris's network faults, one builder per kind of state kerris creates. The planner builds a
 * plan's revert with them, and a journal record's stored revert is rebuilt with them on load (stored-plan.ts), so a
 * replayed revert can only ever be one of these shapes.
 */
import type { ExecStep } from '../plan.ts';
import { NFT_TABLE } from './nft.ts';
import { ROOT_HANDLE } from './tc.ts';

/** The IFBs kerris names for a target's ingress: kerris-ifb<index of the device>. */
export const IFB_NAME = /^kerris-ifb[0-9]{1,2}$/;

/**
 * How tc says a qdisc of ours is gone: "Invalid handle" when the device holds
 * another (the kernel's default, or someone else's, which stays untouched),
 * "Cannot find specified qdisc" when an ingress hook was used and removed
 * before, or the whole device is gone.
 */
function qdiscAbsent(device: string): string[] {
  return ['Invalid handle', 'Cannot find specified qdisc on specified device', `Cannot find device "${device}"`];
}

/**
 * An ingress qdisc proves nothing about who added it, so it is deleted only while its filter still redirects to one
 * of kerris's IFBs: a replayed revert never removes one another component added after kerris's went away.
 */
export function ingressUndo(netns: string, device: string): ExecStep {
  return {
    kind: 'exec', argv: ['tc', 'qdisc', 'del', 'dev', device, 'ingress'], netns, absentIf: qdiscAbsent(device),
    onlyIf: { argv: ['tc', 'filter', 'show', 'dev', device, 'ingress'], stdoutIncludes: 'Redirect to device kerris-ifb' },
  };
}

export function rootUndo(netns: string, device: string): ExecStep {
  return { kind: 'exec', argv: ['tc', 'qdisc', 'del', 'dev', device, 'root', 'handle', ROOT_HANDLE], netns, absentIf: qdiscAbsent(device) };
}

/**
 * Attaching a root qdisc to a device with no transmit queue (a veth's txqueuelen 0) makes the kernel give it the
 * default of 1000, and deleting the qdisc leaves it there: the revert sets it back to 0.
 */
export function txqueuelenUndo(netns: string, device: string): ExecStep {
  return { kind: 'exec', argv: ['ip', 'link', 'set', 'dev', device, 'txqueuelen', '0'], netns, absentIf: [`Cannot find device "${device}"`] };
}

export function nftUndo(netns: string): ExecStep {
  return { kind: 'exec', argv: ['nft', 'delete', 'table', 'inet', NFT_TABLE], netns, absentIf: ['Could not process rule: No such file or directory'] };
}

export function ifbUndo(netns: string, ifb: string): ExecStep {
  return { kind: 'exec', argv: ['ip', 'link', 'del', 'dev', ifb], netns, absentIf: [`Cannot find device "${ifb}"`] };
}
