/** The last N events of a simulation, kept as text so a violation can show how it came about. */
export class Trace {
  private lines: string[] = [];
  private next = 0;
  enabled = true;

  constructor(private readonly capacity = 300) {}

  add(now: number, text: string): void {
    if (!this.enabled) return;
    const line = `${now.toFixed(1).padStart(9)}ms  ${text}`;
    if (this.lines.length < this.capacity) this.lines.push(line);
    else {
      this.lines[this.next] = line;
      this.next = (this.next + 1) % this.capacity;
    }
  }

  /** Oldest first. */
  dump(): string[] {
    return this.lines.length < this.capacity
      ? this.lines.slice()
      : [...this.lines.slice(this.next), ...this.lines.slice(0, this.next)];
  }
}
