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

/** GET /api/streams/:id/overlay: the newest tracks and the rules' geometry, in source pixels. */
export interface Overlay {
  ts: number;
  width: number;
  height: number;
  tracks: { id: number; label: string; score: number; box: [number, number, number, number] }[];
  zones: { rule: string; points: Point[] }[];
  lines: { rule: string; points: Point[] }[];
}

export interface TelemetrySample {
  ts: number;
  fps?: number | null;
  inference_ms?: number | null;
  e2e_ms?: number | null;
  cpu?: number | null;
  gpu?: number | null;
  mem?: number | null;
  temp?: number | null;
  power?: number | null;
  outbox?: number | null;
  disk_free?: number | null;
}

export interface DoctorCheck {
  name: string;
  status: string;
  detail?: string | null;
  fix?: string | null;
}

export interface UserRow {
  user: string;
  role: Role;
  [field: string]: unknown;
}

export const canChange = (role: Role, what: 'review' | 'rules' | 'streams' | 'users'): boolean =>
  role === 'admin' || (role === 'operator' && (what === 'review' || what === 'rules'));
