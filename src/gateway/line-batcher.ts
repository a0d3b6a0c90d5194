/**
 * Log lines gathered into batches before they reach the file stream (pino's sonic-boom). sonic-boom
 * appends each line to its pending text and measures that text's UTF-8 length on every write: with
 * 32 KiB batches that was ~7 µs a line (a copy and a scan of up to the whole batch each time).
 * Here each line is encoded once, straight into the batch's buffer, and sonic-boom (in its buffer
 * mode) gets whole buffers: no joined string to build, measure and encode again per batch (that
 * was ~1 µs a line in the gateway's profile). sonic-boom still does the writing (partial writes,
 * EAGAIN, flushSync) and keeps the order.
 */

/** What the batches go to (sonic-boom's part that is used, in contentMode 'buffer'). */
export interface LineSink {
  write(chunk: Buffer): boolean;
  flushSync(): void;
}

export class LineBatcher {
  private batch: Buffer;
  private used = 0;
  private readonly timer: NodeJS.Timeout;

  /**
   * `minBytes`: a batch goes once it holds this many bytes, or after `flushMs` at the latest. Its
   * buffer holds twice that, so a line shorter than `minBytes` always fits in the open batch.
   */
  constructor(
    private readonly sink: LineSink,
    private readonly opts: { minBytes: number; flushMs: number },
  ) {
    this.batch = Buffer.allocUnsafe(2 * opts.minBytes);
    this.timer = setInterval(() => this.forward(), opts.flushMs);
    this.timer.unref();
  }

  write(line: string): boolean {
    const room = this.batch.length - this.used;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: only a line that might not fit is measured.
    if (line.length * 3 > room) {
      const bytes = Buffer.byteLength(line);
      if (bytes > room) {
        this.forward();
        // Longer than a whole batch: it goes on its own.
        if (bytes > this.batch.length) {
          this.sink.write(Buffer.from(line));
          return true;
        }
      }
    }
    this.used += this.batch.write(line, this.used);
    if (this.used >= this.opts.minBytes) this.forward();
    return true;
  }

  /** Everything gathered, written out now (at exit). */
  flushSync(): void {
    this.forward();
    this.sink.flushSync();
  }

  /** Stops the timer; what is gathered is handed on first. */
  close(): void {
    clearInterval(this.timer);
    this.forward();
  }

  /** Hands what is gathered to the sink now (a fresh buffer takes its place: the sink keeps it until written). */
  forward(): void {
    if (this.used === 0) return;
    const full = this.batch.subarray(0, this.used);
    this.batch = Buffer.allocUnsafe(2 * this.opts.minBytes);
    this.used = 0;
    this.sink.write(full);
  }
}
