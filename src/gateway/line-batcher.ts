/**
 * Log lines gathered into batches before they reach the file stream (pino's sonic-boom). sonic-boom
 * appends each line to its pending text and measures that text's UTF-8 length on every write: with
 * 32 KiB batches that was ~7 µs a line (a copy and a scan of up to the whole batch each time).
 * Here a line is pushed onto a list and the batch is joined once; sonic-boom still does the
 * writing (partial writes, EAGAIN, flushSync) and keeps the order.
 */

/** What the batches go to (sonic-boom's part that is used). */
export interface LineSink {
  write(text: string): boolean;
  flushSync(): void;
}

export class LineBatcher {
  private lines: string[] = [];
  private chars = 0;
  private readonly timer: NodeJS.Timeout;

  /** `minChars`: a batch goes once it holds this many characters, or after `flushMs` at the latest. */
  constructor(
    private readonly sink: LineSink,
    private readonly opts: { minChars: number; flushMs: number },
  ) {
    this.timer = setInterval(() => this.forward(), opts.flushMs);
    this.timer.unref();
  }

  write(line: string): boolean {
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= this.opts.minChars) this.forward();
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

  /** Hands what is gathered to the sink now. */
  forward(): void {
    if (this.lines.length === 0) return;
    const text = this.lines.length === 1 ? (this.lines[0] as string) : this.lines.join('');
    this.lines = [];
    this.chars = 0;
    this.sink.write(text);
  }
}
