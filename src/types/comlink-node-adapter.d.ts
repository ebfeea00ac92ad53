// comlink ships its Node adapter without types that NodeNext resolution finds.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  export default function nodeEndpoint(nep: {
    postMessage(message: unknown, transfer?: readonly unknown[]): void;
    on(event: 'message', listener: (data: unknown) => void): unknown;
    off(event: 'message', listener: (data: unknown) => void): unknown;
    start?: () => void;
  }): Endpoint;
}
