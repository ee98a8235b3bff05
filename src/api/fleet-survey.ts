/**
 * What the leading controller last learnt from every node daemon, published in the ConfigMap FLEET_SURVEY_NAME of
 * kerris's namespace under FLEET_SURVEY_KEY. It is how people and `kubectl kerris` (plan, doctor) learn what each node
 * can do and holds, without a client certificate for the daemons' mTLS API: only the controller speaks to daemons.
 * The controller writes it (src/controller/daemons/survey.ts); the CLI reads it with parseFleetSurvey. One module for
 * both sides, so the two cannot drift.
 */

import type { NodeCapabilities } from '../daemon/preflight.ts';

export const FLEET_SURVEY_NAME = 'kerris-fleet';
export const FLEET_SURVEY_KEY = 'survey.json';
export const FLEET_SURVEY_VERSION = 1;

/** One injection a daemon holds, as its List returned it. */
export interface SurveyedInjection {
  id: string;
  /** The UID of the chaos object that made it (src/controller/daemons/injection.ts). */
  experiment: string;
  /** container-kill, container-freeze or network. */
  kind: string;
  /** applying, active, done, reverting, not-reapplied. */
  phase: string;
  summary: string;
  holder: string;
  /** The last failure the daemon recorded (a re-apply or a revert), empty when none. */
  error: string;
}

/**
 * What a node's kernel offers kerris's network faults: the daemon's own preflight findings (src/daemon/preflight.ts),
 * without the node name and the probes' stderr, so the CLI judges a node by the same fields the daemon does.
 */
export type SurveyedNetwork = Omit<NodeCapabilities, 'node' | 'failures'>;

export interface SurveyedNode {
  node: string;
  daemonPod: string;
  /** False when the daemon could not be asked; `error` says why, and the fields below are absent. */
  reachable: boolean;
  error?: string;
  apiVersion?: number;
  faultKinds?: string[];
  runtimes?: string[];
  network?: SurveyedNetwork;
  journalDamage?: { file: string; kind: string; reason: string; movedTo: string }[];
  injections?: SurveyedInjection[];
}

export interface FleetSurvey {
  version: typeof FLEET_SURVEY_VERSION;
  /** The controller replica that wrote it. */
  controller: string;
  observedAt: string;
  /** How often it is written: older than a few of these means no controller is surveying. */
  intervalSeconds: number;
  /** When the daemons' mTLS certificates expire (their Secrets' not-after annotations); absent when unreadable. */
  certificates: { caNotAfter?: string; daemonServingNotAfter?: string };
  nodes: SurveyedNode[];
}

export class FleetSurveyError extends Error {
  override name = 'FleetSurveyError';
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Parses the ConfigMap's text; throws FleetSurveyError naming what is wrong (another version, not JSON, no nodes). */
export function parseFleetSurvey(text: string): FleetSurvey {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new FleetSurveyError(`${FLEET_SURVEY_NAME}/${FLEET_SURVEY_KEY} is not JSON: ${(error as Error).message}`);
  }
  if (!isRecord(value)) throw new FleetSurveyError(`${FLEET_SURVEY_NAME}/${FLEET_SURVEY_KEY} is not an object`);
  if (value['version'] !== FLEET_SURVEY_VERSION) throw new FleetSurveyError(`${FLEET_SURVEY_NAME} has version ${JSON.stringify(value['version'])}, this kubectl-kerris reads version ${FLEET_SURVEY_VERSION}: use the kubectl-kerris of the controller's release`);
  const nodes = value['nodes'];
  if (!Array.isArray(nodes) || !nodes.every((n) => isRecord(n) && typeof n['node'] === 'string' && typeof n['reachable'] === 'boolean')) {
    throw new FleetSurveyError(`${FLEET_SURVEY_NAME}: nodes is not a list of node entries`);
  }
  if (typeof value['observedAt'] !== 'string' || typeof value['controller'] !== 'string' || typeof value['intervalSeconds'] !== 'number' || !isRecord(value['certificates'])) {
    throw new FleetSurveyError(`${FLEET_SURVEY_NAME}: observedAt, controller, intervalSeconds or certificates is missing`);
  }
  // The writer is this repository's own code at the same version; past the checks above the shape is its.
  return value as unknown as FleetSurvey;
}
