/**
 * grpc-js on protobuf-es descriptors: a service's method paths and codecs come from the code generated from its
 * .proto (proto/gen), so no message type is declared by hand and none is "trusted to match".
 */
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type * as grpc from '@grpc/grpc-js';
import type { UnaryMethod } from './grpc-unary.ts';

type Input<M extends GenServiceMethods[string]> = M['input'];
type Output<M extends GenServiceMethods[string]> = M['output'];

/** A unary method as a client calls it: it sends an init shape (plain fields), it receives the decoded message. */
export type EsUnaryMethod<I extends DescMessage, O extends DescMessage> = UnaryMethod<MessageInitShape<I>, MessageShape<O>>;

/** The server side of every method: receives the decoded request, returns the response as an init shape. */
export type EsServiceImplementation<S extends GenServiceMethods> = {
  [K in keyof S]: grpc.handleUnaryCall<MessageShape<Input<S[K]>>, MessageInitShape<Output<S[K]>>>;
};

function path(method: DescMethod): string {
  return `/${method.parent.typeName}/${method.name}`;
}

function serializer<D extends DescMessage>(schema: D): (value: MessageInitShape<D>) => Buffer {
  // create() returns a message of this schema unchanged and fills in an init shape's defaults.
  return (value) => Buffer.from(toBinary(schema, create(schema, value)));
}

function deserializer<D extends DescMessage>(schema: D): (bytes: Buffer) => MessageShape<D> {
  return (bytes) => fromBinary(schema, bytes);
}

function unary(method: DescMethod): DescMethod {
  if (method.methodKind !== 'unary') throw new Error(`${path(method)} is ${method.methodKind}; only unary methods are supported`);
  return method;
}

/** The grpc-js definition of a generated service, keyed by the methods' local names (sync, list, ...). */
export function serviceDefinition<S extends GenServiceMethods>(service: GenService<S>): grpc.ServiceDefinition<EsServiceImplementation<S>> {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    unary(method);
    definition[method.localName] = {
      path: path(method),
      originalName: method.name,
      requestStream: false,
      responseStream: false,
      requestSerialize: serializer(method.input) as (value: unknown) => Buffer,
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output) as (value: unknown) => Buffer,
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition as grpc.ServiceDefinition<EsServiceImplementation<S>>;
}

/** The client side of one generated method, for grpc-unary.ts's callUnary. */
export function clientMethod<I extends DescMessage, O extends DescMessage>(method: DescMethod & { input: I; output: O }): EsUnaryMethod<I, O> {
  unary(method);
  return { path: path(method), serialize: serializer(method.input), deserialize: deserializer(method.output) };
}
