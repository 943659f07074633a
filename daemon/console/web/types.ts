import type { Result } from '../../control/results.js';

/**
 * Shapes of the console's own routes (docs/console.md); the control methods' results come from
 * daemon/control/results.ts through `Result<M>`, so they cannot drift from what the daemon sends.
 */
export type Role = 'viewer' | 'operator' | 'admin';

export interface Me {
  user: string;
  role: Role;
  csrf: string;
}

export type AppStatus = Result<'status'>;
export type StreamStatus = AppStatus['streams'][number];
export type StreamRow = Result<'streams.list'>[number];
export type StoredEvent = Result<'events.list'>[number];
export type EventDetail = Result<'events.show'>;
export type RuleConfig = Result<'rules.list'>[number];
export type ModelsList = Result<'models.list'>;
export type LogEntry = Result<'logs.tail'>['entries'][number];

export type Point = [number, number];

/**
 * GET /api/streams/:id/overlay: the newest tracks and the rules' geometry, in source pixels. Before
 * the first analysed frame the size and time are null; a detection without a track has no id.
 */
export interface Overlay {
  ts: number | null;
  width: number | null;
  height: number | null;
  tracks: { id: number | null; label: string; score: number | null; box: [number, number, number, number] }[];
  zones: { rule: string | null; points: Point[] }[];
  lines: { rule: string | null; points: Point[] }[];
}

/** GET /api/telemetry: one sample a minute, as the server keeps it. */
export type { TelemetrySample } from '../telemetry-sample.js';

/** GET /api/doctor: `vigilctl doctor --json`, run by the console at most once a minute. */
export interface DoctorReport {
  healthy: boolean;
  ran_at: string;
  checks: { name: string; status: 'OK' | 'WARN' | 'FAIL'; detail: string; fix?: string }[];
}

/** GET /api/users: `{users: UserRow[]}`. */
export interface UserRow {
  name: string;
  role: Role;
  created_at: string;
  updated_at: string;
}

export const canChange = (role: Role, what: 'review' | 'rules' | 'streams' | 'users'): boolean =>
  role === 'admin' || (role === 'operator' && (what === 'review' || what === 'rules'));
