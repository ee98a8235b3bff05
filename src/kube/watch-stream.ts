/** Watch responses: one JSON object per line, streamed as the apiserver sends them. */
import { StringDecoder } from 'node:string_decoder';
import type { KubeObject, WatchEvent } from './types.ts';

/** The watch stream broke the protocol: a line that is not a watch event. */
export class WatchProtocolError extends Error {
  readonly line: string;
  constructor(message: string, line: string) {
    super(`${message}: ${line.slice(0, 200)}`);
    this.name = 'WatchProtocolError';
    this.line = line;
  }
}

const TYPES = new Set(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

export function parseWatchEvent<T extends KubeObject>(line: string): WatchEvent<T> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new WatchProtocolError('watch line is not JSON', line);
  }
  if (typeof value !== 'object' || value === null) throw new WatchProtocolError('watch line is not an object', line);
  const { type, object } = value as { type?: unknown; object?: unknown };
  if (typeof type !== 'string' || !TYPES.has(type)) throw new WatchProtocolError('watch event has an unknown type', line);
  if (typeof object !== 'object' || object === null) throw new WatchProtocolError('watch event has no object', line);
  if (type !== 'ERROR' && typeof (object as { metadata?: unknown }).metadata !== 'object') {
    throw new WatchProtocolError('watch event object has no metadata', line);
  }
  return value as WatchEvent<T>;
}

/** Decodes a byte stream into watch events, whatever the chunk boundaries. */
export async function* decodeWatchStream<T extends KubeObject>(chunks: AsyncIterable<Buffer>): AsyncGenerator<WatchEvent<T>> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of chunks) {
    pending += decoder.write(chunk);
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line !== '') yield parseWatchEvent<T>(line);
      newline = pending.indexOf('\n');
    }
  }
  const rest = (pending + decoder.end()).trim();
  if (rest !== '') yield parseWatchEvent<T>(rest);
}
