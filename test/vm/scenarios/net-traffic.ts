/**
 * Small traffic tools the network fault tests run inside network namespaces
 * (`ip netns exec NS node net-traffic.ts MODE ...`). Each prints one JSON line
 * with what it saw; long-running servers first print {"ready":true}.
 *
 *   tcp-serve PORT                     accept; a bulk sender gets its receive stats back
 *   tcp-connect HOST PORT TIMEOUT_MS   {ok, ms, error}
 *   tcp-bulk HOST PORT SECONDS         {bytes, bitsPerSecond} measured by the receiver
 *   udp-echo PORT                      reflect every datagram
 *   udp-probe HOST PORT COUNT GAP_MS   {sent, received, duplicates, corrupted, inversions, descents, rtts}
 *   udp-recv PORT MS                   {received}
 *   udp-send HOST PORT COUNT [GAP_MS]  {sent}
 *   udp-sink PORT QUIET_MS             checks probes as they arrive; once none came for QUIET_MS:
 *                                      {received, duplicates, corrupted, inversions, descents}
 */
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, createServer, isIPv6 } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const out = (value: unknown): void => { process.stdout.write(`${JSON.stringify(value)}\n`); };
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const family = (host: string): 'udp4' | 'udp6' => (isIPv6(host) ? 'udp6' : 'udp4');

/** Receiver-side throughput: bytes in the window after the first second, so tbf's initial burst does not count. */
const BULK_SETTLE_MS = 1_000;

function tcpServe(port: number): void {
  const server = createServer((socket) => {
    let bytes = 0;
    let settledBytes = 0;
    let settledAt: number | undefined;
    const start = nowMs();
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      const t = nowMs();
      if (t - start < BULK_SETTLE_MS) return;
      settledAt ??= t;
      settledBytes += chunk.length;
    });
    socket.on('end', () => {
      const seconds = settledAt === undefined ? 0 : (nowMs() - settledAt) / 1000;
      socket.end(JSON.stringify({ bytes, settledBytes, seconds }));
    });
    socket.on('error', () => socket.destroy());
  });
  server.listen(port, '::', () => out({ ready: true }));
}

function tcpConnect(host: string, port: number, timeoutMs: number): void {
  const start = nowMs();
  const socket = connect({ host, port, timeout: timeoutMs });
  const finish = (ok: boolean, error?: string): void => {
    out({ ok, ms: nowMs() - start, ...(error ? { error } : {}) });
    socket.destroy();
  };
  socket.once('connect', () => finish(true));
  socket.once('timeout', () => finish(false, 'timeout'));
  socket.once('error', (e) => finish(false, e.message));
}

function tcpBulk(host: string, port: number, seconds: number): void {
  const socket = connect({ host, port });
  const chunk = Buffer.alloc(64 * 1024, 0x6b);
  const until = nowMs() + seconds * 1000;
  let reply = '';
  const pump = (): void => {
    while (nowMs() < until) {
      if (!socket.write(chunk)) { socket.once('drain', pump); return; }
    }
    socket.end();
  };
  socket.once('connect', pump);
  socket.on('data', (d: Buffer) => { reply += d.toString('utf8'); });
  socket.once('end', () => {
    const stats = JSON.parse(reply) as { bytes: number; settledBytes: number; seconds: number };
    out({ bytes: stats.bytes, bitsPerSecond: stats.seconds > 0 ? (stats.settledBytes * 8) / stats.seconds : 0 });
  });
  socket.once('error', (e) => { out({ error: e.message }); process.exitCode = 1; });
}

function udpEcho(port: number): void {
  const socket = createSocket({ type: 'udp6', ipv6Only: false });
  socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address));
  socket.bind(port, '::', () => out({ ready: true }));
}

/** A probe is [seq u32][payload]; its last 16 bytes are an MD5 of the rest, so a flipped bit is seen. */
function probe(seq: number, size: number): Buffer {
  const body = Buffer.alloc(size - 16, seq & 0xff);
  body.writeUInt32BE(seq, 0);
  return Buffer.concat([body, createHash('md5').update(body).digest()]);
}

async function udpProbe(host: string, port: number, count: number, gapMs: number): Promise<void> {
  const socket = createSocket(family(host));
  const sentAt = new Array<number>(count);
  const rtts = new Array<number | null>(count).fill(null);
  let received = 0;
  let duplicates = 0;
  let corrupted = 0;
  let inversions = 0;
  let descents = 0;
  let highest = -1;
  let previous = -1;
  socket.on('message', (msg) => {
    const t = nowMs();
    const body = msg.subarray(0, msg.length - 16);
    if (msg.length < 20 || !createHash('md5').update(body).digest().equals(msg.subarray(msg.length - 16))) { corrupted++; return; }
    const seq = body.readUInt32BE(0);
    if (seq >= count) { corrupted++; return; }
    if (rtts[seq] !== null) { duplicates++; return; }
    received++;
    rtts[seq] = t - (sentAt[seq] ?? t);
    // An inversion arrives after a later packet; a descent is a packet followed directly by an earlier one (one per overtaker).
    if (seq < highest) inversions++;
    if (seq < previous) descents++;
    highest = Math.max(highest, seq);
    previous = seq;
  });
  await new Promise<void>((resolve) => socket.bind(0, resolve));
  const start = nowMs();
  for (let seq = 0; seq < count; seq++) {
    // Send on a fixed schedule, not "gap after the last send", so event-loop stalls do not stretch the run.
    const wait = start + seq * gapMs - nowMs();
    if (wait > 0) await sleep(wait);
    sentAt[seq] = nowMs();
    socket.send(probe(seq, 64), port, host);
  }
  await sleep(1_000);
  socket.close();
  out({ sent: count, received, duplicates, corrupted, inversions, descents, rtts });
}

function udpRecv(port: number, ms: number): void {
  const socket = createSocket({ type: 'udp6', ipv6Only: false });
  let received = 0;
  socket.on('message', () => { received++; });
  socket.bind(port, '::', () => {
    out({ ready: true });
    setTimeout(() => { socket.close(); out({ received }); }, ms);
  });
}

async function udpSend(host: string, port: number, count: number, gapMs: number): Promise<void> {
  const socket = createSocket(family(host));
  const start = nowMs();
  for (let seq = 0; seq < count; seq++) {
    const wait = start + seq * gapMs - nowMs();
    if (wait > 0) await sleep(wait);
    await new Promise<void>((resolve) => socket.send(probe(seq, 64), port, host, () => resolve()));
  }
  socket.close();
  out({ sent: count });
}

/** The receiving end of udp-send, measured where the packets land rather than after a round trip. */
function udpSink(port: number, quietMs: number): void {
  const socket = createSocket({ type: 'udp6', ipv6Only: false });
  const seen = new Set<number>();
  let duplicates = 0;
  let corrupted = 0;
  let inversions = 0;
  let descents = 0;
  let highest = -1;
  let previous = -1;
  let timer: NodeJS.Timeout | undefined;
  const finish = (): void => {
    socket.close();
    out({ received: seen.size, duplicates, corrupted, inversions, descents });
  };
  socket.on('message', (msg) => {
    clearTimeout(timer);
    timer = setTimeout(finish, quietMs);
    const body = msg.subarray(0, msg.length - 16);
    if (msg.length < 20 || !createHash('md5').update(body).digest().equals(msg.subarray(msg.length - 16))) { corrupted++; return; }
    const seq = body.readUInt32BE(0);
    if (seen.has(seq)) { duplicates++; return; }
    seen.add(seq);
    if (seq < highest) inversions++;
    if (seq < previous) descents++;
    highest = Math.max(highest, seq);
    previous = seq;
  });
  socket.bind(port, '::', () => out({ ready: true }));
}

const [mode, ...args] = process.argv.slice(2);
const num = (i: number): number => {
  const value = Number(args[i]);
  if (!Number.isFinite(value)) throw new TypeError(`argument ${i + 1} of ${mode} must be a number`);
  return value;
};
const str = (i: number): string => args[i] ?? '';

switch (mode) {
  case 'tcp-serve': tcpServe(num(0)); break;
  case 'tcp-connect': tcpConnect(str(0), num(1), num(2)); break;
  case 'tcp-bulk': tcpBulk(str(0), num(1), num(2)); break;
  case 'udp-echo': udpEcho(num(0)); break;
  case 'udp-probe': await udpProbe(str(0), num(1), num(2), num(3)); break;
  case 'udp-recv': udpRecv(num(0), num(1)); break;
  case 'udp-send': await udpSend(str(0), num(1), num(2), args[3] === undefined ? 1 : num(3)); break;
  case 'udp-sink': udpSink(num(0), num(1)); break;
  default:
    process.stderr.write(`unknown mode ${String(mode)}\n`);
    process.exitCode = 2;
}
