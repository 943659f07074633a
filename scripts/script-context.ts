/**
 * What the test helpers (mosquitto, temp dirs) expect of a test context, for the benchmark scripts:
 * cleanups registered with `after` run in reverse order at the end, each on its own, so that one
 * failing cannot leave a broker or a temp directory behind.
 */
export class ScriptContext {
  private readonly cleanups: (() => Promise<void> | void)[] = [];

  after(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.cleanups.reverse()) {
      try {
        await fn();
      } catch (err) {
        process.stderr.write(`cleanup failed: ${String(err)}\n`);
      }
    }
    this.cleanups.length = 0;
  }
}
