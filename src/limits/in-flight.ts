/**
 * Requests of one key in flight at once, counted per gateway pod (in memory): a slot is taken
 * when a request is admitted and given back when it ends, however it ends. Fleet-wide the limit
 * is this number times the pods serving the key; a crashed pod's slots vanish with it.
 */
export class InFlightCounter {
  private readonly counts = new Map<string, number>();

  /** A slot for `keyId` under `limit`, or false when the key already has `limit` in flight. */
  tryAcquire(keyId: string, limit: number): boolean {
    const now = this.counts.get(keyId) ?? 0;
    if (now >= limit) return false;
    this.counts.set(keyId, now + 1);
    return true;
  }

  release(keyId: string): void {
    const now = this.counts.get(keyId) ?? 0;
    if (now <= 1) this.counts.delete(keyId);
    else this.counts.set(keyId, now - 1);
  }

  inFlight(keyId: string): number {
    return this.counts.get(keyId) ?? 0;
  }
}
