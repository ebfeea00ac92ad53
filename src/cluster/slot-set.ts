/**
 * An unordered set of objects without a Set: for sets whose members come and go at the rate of
 * operations (the KV client's calls in flight, a peer's calls from the Cluster). src/kv/call-table.ts
 * says why not a Set.
 */

/** An element of a {@link SlotSet}: the set keeps its position in the element itself. */
export interface Slotted {
  /** The element's index in its set, -1 when in none. Only SlotSet writes it. */
  slot: number;
}

/**
 * An unordered set of objects with O(1) add and delete: an array, each element knowing its
 * index, a deletion moving the last element into the gap.
 */
export class SlotSet<T extends Slotted> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  add(x: T): void {
    if (x.slot >= 0) return;
    x.slot = this.items.length;
    this.items.push(x);
  }

  delete(x: T): void {
    const i = x.slot;
    if (i < 0 || this.items[i] !== x) return;
    const last = this.items.pop()!;
    if (last !== x) {
      this.items[i] = last;
      last.slot = i;
    }
    x.slot = -1;
  }

  /**
   * The elements as of now, into `out` (cleared first), so the caller may add and delete while
   * it goes through them.
   */
  snapshot(out: T[]): T[] {
    out.length = 0;
    for (let i = 0; i < this.items.length; i++) out.push(this.items[i]!);
    return out;
  }
}
