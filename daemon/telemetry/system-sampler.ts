import { readdir, readFile, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import si from 'systeminformation';
import { errorMessage } from '../errors.js';
import { withDeadline } from '../lifecycle.js';
import type { Logger } from '../log.js';
import { JetsonSysfs, type EmcReading, type PowerRail } from './jetson-sysfs.js';

export interface TemperatureReading {
  sensor: string;
  celsius: number;
}

/** The host values that cost a file read, a syscall or a child process; read off the frame path and cached. */
export interface SystemSample {
  /** When the sample was completed, ms since the epoch. */
  at: number;
  /** All cores, percent, since the previous sample. */
  cpuLoadPercent: number | null;
  /** This process, percent of one core, since the previous sample. */
  processCpuPercent: number | null;
  memory: { usedBytes: number | null; totalBytes: number | null };
  temperatures: TemperatureReading[];
  disk: { path: string; freeBytes: number | null; totalBytes: number | null };
  gpu: { device: string; loadPercent: number } | null;
  /** Jetson memory controller; null elsewhere (or where debugfs cannot be read). */
  emc: EmcReading | null;
  /** Jetson INA3221 supply rails; empty elsewhere. */
  powerRails: PowerRail[];
}

/** The systeminformation calls used, injectable so that a test can make one hang or fail. */
export interface SystemInfoSource {
  currentLoad(): Promise<{ currentLoad: number }>;
  mem(): Promise<{ total: number; available: number }>;
  cpuTemperature(): Promise<{ main: number | null; cores?: number[] }>;
}

export interface SystemSamplerOptions {
  /** The state directory: its filesystem's free space is what the database can still use. */
  diskPath: string;
  log: Logger;
  /** Each source gets this long; a slow one leaves its value null instead of delaying the rest. */
  timeoutMs?: number;
  /** Prefix for /sys, so that tests can stand up a Jetson's sysfs in a temporary directory; env VIGIL_SYSFS_ROOT. */
  sysRoot?: string;
  source?: SystemInfoSource;
  now?: () => number;
}

/**
 * Where the integrated GPU's load (per mille) is on L4T: `gpu.0` on Xavier and older releases, and a
 * devfreq device named after the GPU (ga10b on Orin, gv11b on Xavier, gp10b on TX2) on newer ones,
 * which is where jetson-stats finds it too.
 */
const GPU_LOAD_FILES = ['devices/platform/gpu.0/load', 'devices/gpu.0/load'];
const GPU_DEVFREQ = /gpu|ga10b|gv11b|gp10b|gk20a/i;

/**
 * Reads CPU load, memory, temperatures, disk and GPU load, each bounded by a timeout, one sample at a
 * time (a refresh asked for while one runs shares it). Sources found missing once — no thermal
 * sensor in a VM, no Jetson GPU on a PC — are not asked again: such hardware does not appear while
 * the daemon runs, and systeminformation's temperature probe can start a child process each time.
 */
export class SystemSampler {
  private readonly timeoutMs: number;
  private readonly sysRoot: string;
  private readonly source: SystemInfoSource;
  private readonly now: () => number;
  private latestSample: SystemSample | null = null;
  private running: Promise<SystemSample> | null = null;
  private gpuLoadFile: string | null | undefined;
  private thermalZones = true;
  private siTemperature = true;
  private lastCpu: { usage: NodeJS.CpuUsage; at: bigint } | null = null;
  private readonly failures = new Set<string>();
  private readonly jetson: JetsonSysfs;

  constructor(private readonly opts: SystemSamplerOptions) {
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.sysRoot = opts.sysRoot ?? process.env['VIGIL_SYSFS_ROOT'] ?? '/sys';
    this.jetson = new JetsonSysfs(this.sysRoot);
    this.source = opts.source ?? si;
    this.now = opts.now ?? Date.now;
  }

  latest(): SystemSample | null {
    return this.latestSample;
  }

  refresh(): Promise<SystemSample> {
    this.running ??= this.sample().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async sample(): Promise<SystemSample> {
    const [cpu, mem, temperatures, disk, gpu, jetson] = await Promise.all([
      this.bounded('cpu load', () => this.source.currentLoad()),
      this.bounded('memory', () => this.source.mem()),
      this.temperatures(),
      this.bounded('disk', () => statfs(this.opts.diskPath)),
      this.gpuLoad(),
      this.bounded('jetson power and EMC', () => this.jetson.read()),
    ]);
    const sample: SystemSample = {
      at: this.now(),
      cpuLoadPercent: finiteOrNull(cpu?.currentLoad),
      processCpuPercent: this.processCpu(),
      memory: mem ? { usedBytes: Math.max(0, mem.total - mem.available), totalBytes: mem.total } : { usedBytes: null, totalBytes: null },
      temperatures,
      disk: {
        path: this.opts.diskPath,
        freeBytes: disk ? disk.bavail * disk.bsize : null,
        totalBytes: disk ? disk.blocks * disk.bsize : null,
      },
      gpu,
      emc: jetson?.emc ?? null,
      powerRails: jetson?.rails ?? [],
    };
    this.latestSample = sample;
    return sample;
  }

  /** A value, or null after a timeout or error; each source's failure is logged once, not every sample. */
  private async bounded<T>(what: string, fn: () => Promise<T>): Promise<T | null> {
    try {
      const value = await withDeadline(this.timeoutMs, `reading ${what}`, fn);
      this.failures.delete(what);
      return value;
    } catch (err) {
      if (!this.failures.has(what)) {
        this.failures.add(what);
        this.opts.log.warn({ what, err: errorMessage(err) }, 'telemetry: cannot read a system value; reported as null');
      }
      return null;
    }
  }

  private processCpu(): number | null {
    const at = process.hrtime.bigint();
    const usage = process.cpuUsage();
    const last = this.lastCpu;
    this.lastCpu = { usage, at };
    if (!last) return null;
    const elapsedUs = Number(at - last.at) / 1000;
    if (elapsedUs <= 0) return null;
    const usedUs = usage.user - last.usage.user + usage.system - last.usage.system;
    return Math.max(0, (usedUs / elapsedUs) * 100);
  }

  /**
   * Thermal zones first: they are what a Jetson exposes (CPU, GPU, SoC junction, …) and they cost one
   * small read each; systeminformation only where there are none.
   */
  private async temperatures(): Promise<TemperatureReading[]> {
    if (this.thermalZones) {
      const zones = await this.bounded('thermal zones', () => this.readThermalZones());
      if (zones && zones.length > 0) return zones;
      this.thermalZones = false;
    }
    if (!this.siTemperature) return [];
    const t = await this.bounded('cpu temperature', () => this.source.cpuTemperature());
    const main = finiteOrNull(t?.main);
    if (main === null || !plausibleCelsius(main)) {
      this.siTemperature = false;
      return [];
    }
    return [{ sensor: 'cpu', celsius: main }];
  }

  private async readThermalZones(): Promise<TemperatureReading[]> {
    const dir = path.join(this.sysRoot, 'class', 'thermal');
    const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('thermal_zone')).sort();
    const readings: TemperatureReading[] = [];
    for (const name of names) {
      const zone = path.join(dir, name);
      const [type, temp] = await Promise.all([
        readFile(path.join(zone, 'type'), 'utf8').then((s) => s.trim(), () => name),
        readFile(path.join(zone, 'temp'), 'utf8').then((s) => Number(s.trim()), () => Number.NaN),
      ]);
      const celsius = temp / 1000;
      // Some L4T zones read -256 °C while their sensor is off.
      if (Number.isFinite(celsius) && plausibleCelsius(celsius)) readings.push({ sensor: type, celsius });
    }
    return readings;
  }

  private async gpuLoad(): Promise<SystemSample['gpu']> {
    if (this.gpuLoadFile === undefined) this.gpuLoadFile = await this.findGpuLoadFile();
    const file = this.gpuLoadFile;
    if (file === null) return null;
    const text = await this.bounded('gpu load', () => readFile(file, 'utf8'));
    const perMille = Number(text?.trim());
    if (text === null || !Number.isFinite(perMille)) return null;
    // …/gpu.0/load names the GPU in its folder; …/devfreq/17000000.ga10b/device/load one level up.
    const folder = path.dirname(file);
    const device = path.basename(folder) === 'device' ? path.basename(path.dirname(folder)) : path.basename(folder);
    return { device, loadPercent: Math.min(100, Math.max(0, perMille / 10)) };
  }

  private async findGpuLoadFile(): Promise<string | null> {
    const candidates = GPU_LOAD_FILES.map((f) => path.join(this.sysRoot, f));
    const devfreq = path.join(this.sysRoot, 'class', 'devfreq');
    for (const name of await readdir(devfreq).catch(() => [] as string[])) {
      if (GPU_DEVFREQ.test(name)) candidates.push(path.join(devfreq, name, 'device', 'load'));
    }
    for (const file of candidates) {
      if (await readFile(file, 'utf8').then(() => true, () => false)) {
        this.opts.log.info({ file }, 'telemetry: GPU load from sysfs');
        return file;
      }
    }
    return null;
  }
}

function finiteOrNull(v: number | null | undefined): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function plausibleCelsius(c: number): boolean {
  return c > -40 && c < 150;
}

/** Cheap enough to read at every scrape: process memory and the load average come from memory. */
export function processMemory(): { rssBytes: number; heapUsedBytes: number; heapTotalBytes: number } {
  const m = process.memoryUsage();
  return { rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapTotalBytes: m.heapTotal };
}

export function loadAverage(): [number, number, number] {
  const [a = 0, b = 0, c = 0] = os.loadavg();
  return [a, b, c];
}
