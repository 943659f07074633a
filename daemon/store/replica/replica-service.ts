import path from 'node:path';
import { Gauge } from 'prom-client';
import type { Config, Severity } from '../../config/schema.js';
import type { AuditRecorder } from '../../control/audit.js';
import { errorMessage } from '../../errors.js';
import { EvidenceScrub, type ScrubFinding } from '../../evidence/evidence-scrub.js';
import type { Logger } from '../../log.js';
import type { DaemonParts } from '../../parts.js';
import { DATABASE_FILE, type OpenOptions } from '../open.js';
import { Replicator, type ReplicaReport } from './replica.js';
import { restoreFromReplica, type RestoreReport } from './replica-restore.js';

/**
 * How the composition root builds the data-care parts of docs/data-replication.md: the restore
 * hook the store opens with, the replicator and the evidence scrub. Each report becomes a log line
 * and an audit record (transport `store`), which reaches the hub through the outbox like any event.
 */

const audited = (audit: AuditRecorder | undefined, method: string, reason: string, severity: Severity, log: Logger): void => {
  if (!audit) return;
  try {
    audit({ outcome: 'accepted', transport: 'store', method, request_id: null, operator: null, key_id: null, reason: reason.slice(0, 300) }, severity);
  } catch (err) {
    log.warn({ err: errorMessage(err), method }, 'cannot record the audit event');
  }
};

/** The hook for EventStore.open (OpenOptions.restore); `done` gets what was restored. Undefined without a replica. */
export function restoreHook(cfg: Config, log: Logger, done: (report: RestoreReport) => void): OpenOptions['restore'] {
  const replicaDir = cfg.storage.replica.dir;
  if (replicaDir === undefined) return undefined;
  return (target, corrupt) => {
    try {
      const report = restoreFromReplica({ replicaDir, target, corrupt });
      if (report) done(report);
      // A missing database with no copy either is a first start: nothing to say.
      else if (corrupt !== null) log.error({ replica: replicaDir }, 'the database was corrupt and the replica has no copy; starting an empty database');
    } catch (err) {
      log.error({ err: errorMessage(err), replica: replicaDir }, 'restoring the database from the replica failed; starting an empty database');
      throw err;
    }
  };
}

/** Once the store is open (the audit record goes through it): the log line and the audit record of a restore. */
export function reportRestore(report: RestoreReport, corrupt: boolean, audit: AuditRecorder | undefined, log: Logger): void {
  const s = report.salvaged;
  log.warn({ from: report.from, method: report.method, events: report.events, undelivered: report.undelivered, outbox: report.outbox,
    evidence: report.evidence, evidence_restored: report.evidence_restored,
    evidence_failed: report.evidence_failed, evidence_error: report.evidence_error, newest: report.newest === null ? null : new Date(report.newest).toISOString(), salvaged: s,
    salvage_error: report.salvage_error }, `the database was ${corrupt ? 'corrupt' : 'missing'}: restored from the replica`);
  const salvaged = s ? `; salvaged from the damaged file: ${s.events} events, ${s.outbox} outbox rows, ${s.uplinked} deliveries`
    : report.salvage_error !== null ? `; nothing salvaged (${report.salvage_error})` : '';
  audited(audit, 'store.restore', `database ${corrupt ? 'corrupt' : 'missing'}; restored ${report.events} events ` +
    `(${report.undelivered} undelivered, ${report.outbox} queued) and ${report.evidence_restored} evidence files from ${report.from}${salvaged}` +
    (report.evidence_failed > 0 ? `; ${report.evidence_failed} evidence files not put back (${report.evidence_error})` : ''), 'alert', log);
}

export function startReplica(parts: DaemonParts, rootLog: Logger, audit: AuditRecorder | undefined): Replicator | null {
  const { cfg } = parts;
  const settings = cfg.storage.replica;
  if (settings.dir === undefined) return null;
  const log = rootLog.child({ component: 'store', part: 'replica' });
  const replicator = new Replicator({
    primaryFile: path.join(cfg.storage.dir, DATABASE_FILE), storageDir: cfg.storage.dir, log,
    settings: { dir: settings.dir, interval_ms: settings.interval_ms, max_lag_ms: settings.max_lag_ms, evidence: settings.evidence },
    onReport: (r: ReplicaReport) => {
      switch (r.kind) {
        case 'degraded':
          audited(audit, 'replica.degraded', r.reason, 'warning', log);
          return;
        case 'recovered':
          audited(audit, 'replica.recovered', `the replica is current again after ${r.degraded_s} s`, 'info', log);
          return;
        case 'replaced':
          audited(audit, 'replica.replaced', `the replica belonged to another database; kept as ${r.moved_to}`, 'warning', log);
      }
    },
  });
  replicator.start();
  return replicator;
}

export function startScrub(parts: DaemonParts, rootLog: Logger, audit: AuditRecorder | undefined): EvidenceScrub | null {
  const { cfg } = parts;
  const settings = cfg.storage.replica;
  if (settings.scrub_mb_per_s <= 0) return null;
  const log = rootLog.child({ component: 'evidence', part: 'scrub' });
  const scrub = new EvidenceScrub({
    store: () => parts.store, storageDir: cfg.storage.dir, replicaDir: settings.dir ?? null, log,
    settings: { bytesPerS: settings.scrub_mb_per_s * 1024 * 1024, everyMs: settings.scrub_every_s * 1000 },
    onFinding: (f: ScrubFinding) => audited(audit, 'evidence.scrub',
      `${f.fileKind} of event ${f.eventId}: ${f.problem.replace('_', ' ')} (expected ${f.expected.slice(0, 12)}…, found ` +
      `${f.actual === null ? 'nothing' : `${f.actual.slice(0, 12)}…`}); ${f.repaired ? `repaired from ${f.from ?? 'the replica'}` : `not repaired: ${f.from ?? 'no copy'}`}`,
      f.repaired ? 'warning' : 'alert', log),
  });
  scrub.start();
  return scrub;
}

/**
 * Gauges on the telemetry's /metrics, read from the parts at scrape time: the copy's state and lag,
 * and what the scrub found. After the telemetry service (which owns the registry) has started.
 */
export function registerDataCareMetrics(parts: DaemonParts): void {
  const registry = parts.telemetry?.registry;
  if (!registry) return;
  if (parts.cfg.storage.replica.dir !== undefined) {
    new Gauge({ name: 'vigil_replica_ok', help: '1 while the database copy on storage.replica.dir is within its lag bound, else 0', registers: [registry],
      collect() { this.set(parts.replica?.status().state === 'ok' ? 1 : 0); } });
    new Gauge({ name: 'vigil_replica_lag_seconds', help: 'How far the database copy is behind the primary', registers: [registry],
      collect() { this.set((parts.replica?.status().lag_ms ?? 0) / 1000); } });
    new Gauge({ name: 'vigil_replica_faults', help: 'Copies that failed since start (volume missing, read-only, full, failing)', registers: [registry],
      collect() { this.set(parts.replica?.status().faults ?? 0); } });
  }
  new Gauge({ name: 'vigil_evidence_scrub_bad_files', help: 'Evidence files found not matching their sha256 (or missing) since start, by outcome',
    labelNames: ['outcome'] as const, registers: [registry],
    collect() {
      this.set({ outcome: 'repaired' }, parts.scrub?.stats.repaired ?? 0);
      this.set({ outcome: 'unrepaired' }, parts.scrub?.stats.unrepaired ?? 0);
    } });
}
