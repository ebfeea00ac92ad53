/**
 * Many commands in one transferable buffer (u32 count, then u32 length + bytes each), so a batch
 * crosses to the worker as one message with no per-command clone.
 */
export function packCommands(commands: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let size = 4;
  for (const c of commands) size += 4 + c.length;
  const buf = new Uint8Array(size);
  const view = new DataView(buf.buffer);
  view.setUint32(0, commands.length, true);
  let at = 4;
  for (const c of commands) {
    view.setUint32(at, c.length, true);
    buf.set(c, at + 4);
    at += 4 + c.length;
  }
  return buf;
}

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
