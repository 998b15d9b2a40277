/**
 * A text progress bar on stderr: redrawn in place on a terminal, a line per
 * tenth of the run otherwise (CI logs, pipes).
 */
export class ProgressBar {
  private readonly interactive: boolean;
  private lastDecile = -1;
  private readonly started = performance.now();

  constructor(
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly width = 30,
  ) {
    this.interactive = Boolean(stream.isTTY);
  }

  update(done: number, label: string): void {
    const fraction = this.total === 0 ? 1 : Math.min(1, done / this.total);
    const filled = Math.round(fraction * this.width);
    const bar = `${"█".repeat(filled)}${"░".repeat(this.width - filled)}`;
    const seconds = ((performance.now() - this.started) / 1000).toFixed(1);
    const line = `[${bar}] ${String(done).padStart(String(this.total).length)}/${this.total} steps  ${seconds}s  ${label}`;
    if (this.interactive) {
      this.stream.write(`\r\x1b[2K${line.slice(0, (this.stream.columns ?? 100) - 1)}`);
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile !== this.lastDecile) {
      this.lastDecile = decile;
      this.stream.write(`${line}\n`);
    }
  }

  finish(label: string): void {
    this.update(this.total, label);
    if (this.interactive) this.stream.write("\n");
  }
}
