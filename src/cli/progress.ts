/**
 * Progress of a long wait: on a terminal one line redrawn in place, elsewhere (a pipe, CI logs) a plain line each
 * time the news changes, so logs stay readable and nothing repeats.
 */
import type { WriteStream } from 'node:tty';

export interface Progress {
  update(text: string): void;
  /** Ends the line in place with a last word. */
  done(text: string): void;
}

export function progress(stream: NodeJS.WriteStream | WriteStream = process.stderr): Progress {
  const live = stream.isTTY === true;
  let last = '';
  return {
    update(text) {
      if (text === last) return;
      last = text;
      if (live) stream.write(`\r\x1b[2K${text}`);
      else stream.write(`${text}\n`);
    },
    done(text) {
      if (live) stream.write(`\r\x1b[2K${text}\n`);
      else if (text !== last) stream.write(`${text}\n`);
      last = text;
    },
  };
}
