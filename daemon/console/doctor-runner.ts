import { execFile } from 'node:child_process';
import { setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../errors.js';

/** The built vigilctl (dist/cli/main.js), beside dist/daemon. */
const VIGILCTL = fileURLToPath(new URL('../../cli/main.js', import.meta.url));
/** A fresh run at most this often; pages asking in between get the last answer. */
const CACHE_MS = 60_000;
const DEADLINE_MS = 90_000;

export interface DoctorCheck { name: string; status: 'OK' | 'WARN' | 'FAIL'; detail: string; fix?: string }
export interface DoctorReport { healthy: boolean; ran_at: string; checks: DoctorCheck[] }

/**
 * The doctor's checks (cli/commands/doctor.ts) for the Health page, run as `vigilctl doctor --json`
 * in a child process: they hash model files and start a dozen gst-inspect processes, work that must
 * not run on the daemon's event loop, and the checks stay one implementation. One run at a time,
 * its answer kept for a minute; the child runs at a lower priority (nice 10).
 */
export class DoctorRunner {
  private running: Promise<DoctorReport> | null = null;
  private last: { at: number; report: DoctorReport } | null = null;

  constructor(private readonly configFile: string | null, private readonly now: () => number = Date.now) {}

  report(): Promise<DoctorReport> {
    if (this.configFile === null) return Promise.reject(new Error('the doctor reads the config file, and this daemon runs without one (--demo)'));
    if (this.last && this.now() - this.last.at < CACHE_MS) return Promise.resolve(this.last.report);
    this.running ??= this.run(this.configFile).finally(() => { this.running = null; });
    return this.running;
  }

  private run(config: string): Promise<DoctorReport> {
    return new Promise((resolve, reject) => {
      const child = execFile(process.execPath, [VIGILCTL, 'doctor', '--json', '--config', config, '--timeout', '3'],
        { timeout: DEADLINE_MS, maxBuffer: 1024 * 1024, encoding: 'utf8' }, (err, stdout) => {
          // Exit 1 means "unhealthy", which is an answer; only output that is not the report is a failure.
          try {
            const body = JSON.parse(stdout) as { healthy: boolean; checks: { name: string; outcome: DoctorCheck['status']; detail: string; hint?: string }[] };
            const report: DoctorReport = {
              healthy: body.healthy, ran_at: new Date(this.now()).toISOString(),
              checks: body.checks.map((c) => ({ name: c.name, status: c.outcome, detail: c.detail, ...(c.hint !== undefined ? { fix: c.hint } : {}) })),
            };
            this.last = { at: this.now(), report };
            resolve(report);
          } catch {
            reject(new Error(`vigilctl doctor gave no report: ${err ? errorMessage(err) : 'unreadable output'}`.slice(0, 500)));
          }
        });
      if (child.pid !== undefined) {
        try {
          setPriority(child.pid, 10);
        } catch {
          // Not allowed on this system: the checks still run, at normal priority.
        }
      }
    });
  }
}
