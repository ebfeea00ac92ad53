import type { FaultTableView, NetworkSettings } from '../transport/fault-table.js';

/**
 * The cluster's network faults, applied to client traffic: each request and each reply is one
 * message, lost with dropRate, sent twice with duplicateRate, held for a delay drawn from
 * delayMs, or (longReordering) held 200-2000 ms so it arrives far out of order. These are the
 * same settings the peers' Endpoints read from the fault table, so setNetwork({ reliable: false })
 * makes clients' requests and replies unreliable too, as in 6.824's kvraft.
 *
 * Links (disconnect, partition) are not applied: clients live in the main thread and can reach
 * every running peer, as an embedded store's callers can. A cut-off leader is still reachable
 * and must not answer from stale state: that is what the tests of minority partitions check.
 */
export class ClientFaults {
  private readonly view: FaultTableView;
  private settings: NetworkSettings;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;
  /** Whether any fault is set (when not, deliver() runs the function at once). */
  active = false;

  constructor(view: FaultTableView) {
    this.view = view;
    this.settings = view.network();
    this.refresh();
  }

  /** Re-reads the settings (cheap: a few atomic loads). */
  refresh(): void {
    const s = this.view.network();
    this.settings = s;
    this.active = s.dropRate > 0 || s.duplicateRate > 0 || s.delayMs[1] > 0 || s.longReordering;
  }

  /** Runs `fn` as the network would deliver one message: never, once or twice, now or later. */
  deliver(fn: () => void): void {
    if (this.closed) return;
    if (!this.active) {
      fn();
      return;
    }
    const s = this.settings;
    if (s.dropRate > 0 && Math.random() < s.dropRate) return;
    const copies = s.duplicateRate > 0 && Math.random() < s.duplicateRate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      let ms = s.delayMs[0] + Math.random() * (s.delayMs[1] - s.delayMs[0]);
      if (s.longReordering && Math.random() < s.longReorderingRate) {
        ms = s.longReorderingMs[0] + Math.random() * (s.longReorderingMs[1] - s.longReorderingMs[0]);
      }
      if (ms < 0.5 && c === 0) {
        fn();
        continue;
      }
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (!this.closed) fn();
      }, Math.round(ms));
      this.timers.add(t);
    }
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
