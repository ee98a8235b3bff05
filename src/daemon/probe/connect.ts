/**
 * The probe the daemon runs inside a target's network namespace (`nsenter --net=… -- node connect.js …`, probe.ts):
 * timed TCP connects to each address. A SYN-ACK or an RST within the timeout is a round trip; anything else (a
 * timeout, an unreachable network) is not answered. Standalone, with no imports of the daemon: it runs as its own
 * process, and only its argv, already checked by probe.ts, reaches it.
 *
 * argv: <port> <count> <timeout ms> <concurrency> <address>...; prints one JSON line, ProbeLine[].
 */
import { connect } from 'node:net';

export interface ProbeLine {
  address: string;
  sent: number;
  answered: number;
  /** Microseconds, in the order the connects were sent. */
  rttUs: number[];
}

/** One connect: its round trip in microseconds, or undefined when nothing answered in time. */
function once(address: string, port: number, timeoutMs: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const started = process.hrtime.bigint();
    const socket = connect({ host: address, port });
    const done = (answered: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered ? Number((process.hrtime.bigint() - started) / 1_000n) : undefined);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    // ECONNREFUSED is the peer's RST: its kernel answered, so that is a round trip too.
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED'));
  });
}

async function probe(address: string, port: number, count: number, timeoutMs: number, concurrency: number): Promise<ProbeLine> {
  // The first connect also pays for the neighbour lookup and Node's warm-up: it is made, and not counted.
  await once(address, port, timeoutMs);
  const rtts: Array<number | undefined> = new Array<number | undefined>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      rtts[i] = await once(address, port, timeoutMs);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const rttUs = rtts.filter((r): r is number => r !== undefined);
  return { address, sent: count, answered: rttUs.length, rttUs };
}

async function main(): Promise<void> {
  const [port = '', count = '', timeoutMs = '', concurrency = '', ...addresses] = process.argv.slice(2);
  const lines = await Promise.all(addresses.map((a) => probe(a, Number(port), Number(count), Number(timeoutMs), Number(concurrency))));
  process.stdout.write(`${JSON.stringify(lines)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`probe: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
