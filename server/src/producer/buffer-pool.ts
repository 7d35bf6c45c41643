/**
 * Reuses equal-sized buffers: a fresh megabyte buffer page-faults on first touch, which costs more
 * than everything else the server does with it (docs/performance.md, "The range cache"). A released
 * buffer is only handed out again after the current event-loop turn, because views into it
 * (segment payloads) are used until the microtasks of this turn have run.
 */
export class BufferPool {
  private readonly free: Uint8Array[] = [];
  private quarantine: Uint8Array[] = [];
  private scheduled = false;

  constructor(readonly size: number, private readonly maxFree: number) {}

  take(): Uint8Array {
    return this.free.pop() ?? new Uint8Array(this.size);
  }

  release(buf: Uint8Array): void {
    if (buf.byteLength !== this.size) {
      return;
    }
    this.quarantine.push(buf);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.promote);
    }
  }

  get freeCount(): number {
    return this.free.length;
  }

  private readonly promote = () => {
    this.scheduled = false;
    for (const buf of this.quarantine) {
      if (this.free.length < this.maxFree) {
        this.free.push(buf);
      }
    }
    this.quarantine = [];
  };
}
