/**
 * Registry lookups in progress, by key: a second ask for the same key joins the first lookup
 * instead of starting another, and is counted, so the lookup limiter can serve the lookups most
 * Interests wait for first (its `demand`). A key is forgotten once its lookup settles.
 */
export class PendingLookups<T> {
  private readonly pending = new Map<string, { readonly promise: Promise<T>; readonly interests: { count: number } }>();

  has(key: string): boolean {
    return this.pending.has(key);
  }

  /** The lookup of `key` in progress, or the one `start` begins (given how many asks wait for it). */
  join(key: string, start: (demand: () => number) => Promise<T>): Promise<T> {
    const p = this.pending.get(key);
    if (p) {
      ++p.interests.count;
      return p.promise;
    }
    const interests = { count: 1 };
    const promise = start(() => interests.count).finally(() => this.pending.delete(key));
    this.pending.set(key, { promise, interests });
    return promise;
  }
}
