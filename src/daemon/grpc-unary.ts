/**
 * Unary gRPC calls. `callUnary` serves every client; the rest loads the runtimes' protos (containerd, CRI) at run
 * time, whose few messages are declared by hand. The daemon's own contract is generated instead (grpc-es.ts).
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { join } from 'node:path';

export const PROTO_DIR = join(import.meta.dirname, 'proto');

/** Decoded messages: camelCase fields, int64 as number, defaults filled in, `oneofs` name the set member. */
const LOADER_OPTIONS: protoLoader.Options = { keepCase: false, longs: Number, enums: Number, defaults: true, oneofs: true };

export function loadProto(file: string): protoLoader.PackageDefinition {
  return protoLoader.loadSync(join(PROTO_DIR, file), LOADER_OPTIONS);
}

export interface UnaryMethod<Req, Res> {
  path: string;
  serialize: (request: Req) => Buffer;
  deserialize: (bytes: Buffer) => Res;
}

export function serviceDefinition(definition: protoLoader.PackageDefinition, service: string): protoLoader.ServiceDefinition {
  const found = definition[service];
  if (found === undefined || 'format' in found) throw new Error(`${service} is not a service of the loaded proto`);
  return found as protoLoader.ServiceDefinition;
}

/** The declared Req/Res types are trusted to match the .proto: this is the one place that assumption is made. */
export function unaryMethod<Req, Res>(definition: protoLoader.PackageDefinition, service: string, method: string): UnaryMethod<Req, Res> {
  const found = serviceDefinition(definition, service)[method];
  if (found === undefined) throw new Error(`${service} has no method ${method}`);
  const typed = found as unknown as protoLoader.MethodDefinition<Req, Res>;
  return { path: typed.path, serialize: typed.requestSerialize, deserialize: typed.responseDeserialize };
}

export function callUnary<Req, Res>(client: grpc.Client, method: UnaryMethod<Req, Res>, request: Req, metadata: grpc.Metadata, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method.path, method.serialize, method.deserialize, request, metadata, { deadline: Date.now() + timeoutMs },
      (error, response) => {
        if (error) reject(error);
        else if (response === undefined) reject(new Error(`${method.path}: empty response`));
        else resolve(response);
      });
  });
}

export function isGrpcStatus(error: unknown, code: grpc.status): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === code;
}
