/** Structured logs: one JSON object a line on stderr, so they stay greppable and machine-readable. */
export type Level = 'debug' | 'info' | 'warn' | 'error';

export type Fields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(fields: Fields): Logger;
}

const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function levelFromEnv(): Level {
  const value = process.env['KERRIS_LOG_LEVEL'];
  return value === 'debug' || value === 'info' || value === 'warn' || value === 'error' ? value : 'info';
}

export function createLogger(base: Fields = {}, write: (line: string) => void = (line) => process.stderr.write(line)): Logger {
  const threshold = order[levelFromEnv()];
  const emit = (level: Level, msg: string, fields?: Fields): void => {
    if (order[level] < threshold) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...base, ...fields }, errorReplacer)}\n`);
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...base, ...fields }, write),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  return value instanceof Error ? { name: value.name, message: value.message } : value;
}
