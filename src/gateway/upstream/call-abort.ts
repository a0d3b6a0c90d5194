/**
 * The abort signal of one streamed upstream call, fired when its client leaves. Not an
 * AbortController: building one (an EventTarget with its signal) cost about 3 µs per stream,
 * adding undici's listener to it another 1.5, and aborting one builds a DOMException with a stack
 * trace. undici and the connection gate take anything with `aborted` and add/removeEventListener
 * (undici reads `reason` too: none here, so it aborts with its own RequestAbortedError).
 */

/** What can abort an upstream call: an AbortSignal, or a CallAbort. */
export interface AbortSource {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class CallAbort implements AbortSource {
  aborted = false;
  /** Every listener fires once, as with `{ once: true }` (the only way undici and the gate listen). */
  private listeners: (() => void)[] = [];

  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) this.listeners.push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.listeners.indexOf(listener);
    if (at >= 0) this.listeners.splice(at, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }
}
