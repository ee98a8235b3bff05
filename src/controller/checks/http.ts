/**
 * The HTTP check, as Chaos Mesh's: one request, judged by its status code. Redirects are never followed: a 3xx is
 * judged by its own code, so a check cannot land on another host unseen. The body is not read, and never recorded.
 */
import type { HttpCheck } from '../../api/generated/types.ts';
import { failure, outcome, type CheckOutcome } from './outcome.ts';
import { RequestFailed, send, type Answer } from './request.ts';

/** `200` or an inclusive `200-399`, as the schema admits it. */
export interface StatusCodeRange {
  readonly min: number;
  readonly max: number;
}

export class StatusCodeSyntaxError extends Error {
  readonly text: string;
  constructor(text: string) {
    super(`status code criteria ${JSON.stringify(text)} is neither a code such as 200 nor a range such as 200-399`);
    this.name = 'StatusCodeSyntaxError';
    this.text = text;
  }
}

export function parseStatusCodes(text: string): StatusCodeRange {
  const match = /^([0-9]{1,3})(?:-([0-9]{1,3}))?$/.exec(text);
  if (match === null) throw new StatusCodeSyntaxError(text);
  const min = Number(match[1]);
  const max = match[2] === undefined ? min : Number(match[2]);
  if (min < 1 || max > 999 || min > max) throw new StatusCodeSyntaxError(text);
  return { min, max };
}

export async function evaluateHttp(check: HttpCheck, timeoutMs: number, signal?: AbortSignal): Promise<CheckOutcome> {
  const method = check.method ?? 'GET';
  let codes: StatusCodeRange;
  try {
    codes = parseStatusCodes(check.criteria.statusCode);
  } catch (error) {
    // The apiserver admits only well-formed criteria; an object written before the schema said so still gets an outcome.
    return failure('invalid criteria', error instanceof Error ? error.message : String(error));
  }
  let response: Answer;
  try {
    response = await send(new URL(check.url), { method, headers: check.headers, body: check.body, timeoutMs, signal, maxBodyBytes: 0 });
  } catch (error) {
    if (error instanceof RequestFailed) return failure('no response', `${method} ${check.url}: ${error.reason}`);
    throw error;
  }
  const status = response.status;
  const wanted = codes.min === codes.max ? `${codes.min}` : `${codes.min}-${codes.max}`;
  const ok = status >= codes.min && status <= codes.max;
  const location = status >= 300 && status < 400 ? response.headers.location : undefined;
  const redirect = location === undefined ? '' : ` (a redirect to ${location}, not followed)`;
  return outcome(ok, `HTTP ${status}`, `${method} ${check.url}: status ${status} is ${ok ? '' : 'not '}in ${wanted}${redirect}`);
}
