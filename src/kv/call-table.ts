/**
 * The client's bookkeeping of operations in flight, without a Map or a Set.
 *
 * Why not Map and Set: every operation adds an entry to each and deletes it a few hundred
 * microseconds later, hundreds of thousands of times a second, for the life of the store. With
 * them, the main thread's young-generation collections kept about a third of what had been
 * allocated since the last one (3.6 MB of 10 MB, 4-6 ms per scavenge, 12-15% of the thread's
 * time; 64 clients of a 3-peer store doing gets, `node --trace-gc-nvp`); the survivors were
 * promoted and then died, so old space filled and was marked and compacted every 100-200 ms.
 * The live set was 64 operations. With the ring below for the Map and a SlotSet
 * (src/cluster/slot-set.ts) for the Set, the same run keeps 40 KB per scavenge at 0.3 ms.
 * Replacing only one of the two left the survival as it was.
 */

/**
 * Request id -> value, for ids handed out in increasing order (wrapping) and mostly retired
 * soon: a ring indexed by the id's low bits, holding the id beside its value. An id whose slot
 * is wanted by a newer one while it is still in the table (a request much older than the
 * others, such as one retried for seconds) moves to an overflow Map, which stays empty while
 * requests are answered in about the order they were sent.
 */
export class RequestTable<V> {
  private readonly mask: number;
  private readonly ids: Int32Array;
  private readonly values: (V | undefined)[];
  private readonly overflow = new Map<number, V>();
  private count = 0;

  /** `ringSize`: a power of two, the requests that may be in flight before any overflows. */
  constructor(ringSize = 4096) {
    if (!Number.isInteger(ringSize) || ringSize < 1 || (ringSize & (ringSize - 1)) !== 0) {
      throw new RangeError(`RequestTable: ringSize must be a power of two, got ${String(ringSize)}`);
    }
    this.mask = ringSize - 1;
    this.ids = new Int32Array(ringSize);
    this.values = new Array<V | undefined>(ringSize).fill(undefined);
  }

  /** Entries held, in the ring and in overflow. */
  get size(): number {
    return this.count;
  }

  /** Entries that had to move to the overflow Map (a test's window into the slow path). */
  get overflowed(): number {
    return this.overflow.size;
  }

  /** Ids are positive 31-bit integers; 0 marks a free slot. */
  set(id: number, value: V): void {
    if (!Number.isInteger(id) || id <= 0 || id > 0x7fffffff) throw new RangeError(`RequestTable: request id must be an integer from 1 to 2^31-1, got ${String(id)}`);
    const i = id & this.mask;
    const held = this.ids[i]!;
    if (held === id) {
      this.values[i] = value;
      return;
    }
    if (this.overflow.size > 0 && this.overflow.has(id)) {
      this.overflow.set(id, value);
      return;
    }
    if (held !== 0) this.overflow.set(held, this.values[i]!);
    this.ids[i] = id;
    this.values[i] = value;
    this.count++;
  }

  get(id: number): V | undefined {
    const i = id & this.mask;
    if (this.ids[i] === id) return this.values[i];
    return this.overflow.size > 0 ? this.overflow.get(id) : undefined;
  }

  delete(id: number): boolean {
    const i = id & this.mask;
    if (this.ids[i] === id) {
      this.ids[i] = 0;
      this.values[i] = undefined;
      this.count--;
      return true;
    }
    if (this.overflow.size > 0 && this.overflow.delete(id)) {
      this.count--;
      return true;
    }
    return false;
  }
}
