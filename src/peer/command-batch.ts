/**
 * Many commands in one transferable buffer (u32 count, then u32 length + bytes each), so a batch
 * crosses to the worker as one message with no per-command clone. The main thread packs it
 * (packCommandValues in src/cluster/command-codec.ts); the worker unpacks it here.
 */

/** The commands of a packed batch, as views into it (no copy). Throws on a malformed buffer. */
export function unpackCommands(buf: Uint8Array): Uint8Array[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const count = view.getUint32(0, true);
  const out: Uint8Array[] = new Array(count);
  let at = 4;
  for (let k = 0; k < count; k++) {
    const len = view.getUint32(at, true);
    if (at + 4 + len > buf.length) throw new Error('packed command batch is truncated');
    out[k] = buf.subarray(at + 4, at + 4 + len);
    at += 4 + len;
  }
  return out;
}
