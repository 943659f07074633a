import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config, ModelRef, Severity } from '../config/schema.js';
import { errorMessage } from '../errors.js';
import { loadDetector, type Detector } from '../inference/detector.js';
import { loadWorkerDetector } from '../inference/worker-detector.js';
import type { Logger } from '../log.js';
import type { ModelNotice } from '../uplink/model-message.js';
import { modelOfferFilter } from '../uplink/model-topics.js';
import { modelOfferSchema, type ModelOffer } from '../uplink/payloads.js';
import { chooseVariant, detectDeviceClass, engineCacheKey } from './device-class.js';
import { download, type DownloadProgress } from './download.js';
import { loadPublicKey, type PublicKeyEntry } from './keys.js';
import { PackageError, type RefusalCode } from './package-error.js';
import { claimedIdentity, readPackageHeader } from './package-file.js';
import type { Precision } from './package-manifest.js';
import { judge, type ProbationLimits } from './probation.js';
import { blankFrame, runSelfTest } from './self-test.js';
import { CONFIG_VERSION, ModelStore, type Pointer, type RollbackRecord } from './store.js';
import { SwappableDetector, type DetectSample } from './swappable-detector.js';
import { PackageUploads } from './uploads.js';

/** The part of the uplink the manager needs: hub offers arrive as retained messages. */
export interface OfferSource {
  subscribe(filter: string, handler: (topic: string, payload: Buffer) => void, qos?: 0 | 1): void;
  unsubscribe(filter: string): void;
}

export interface ModelManagerOptions {
  config: Config;
  log: Logger;
  /** Stores a model event and queues it for the hub (`vigil.model/1`). */
  report: (severity: Severity, notice: ModelNotice) => void;
  /** Overrides detection (and `model_store.device_class`); tests only. */
  deviceClass?: string;
}

export interface ActivationResult {
  name: string;
  version: string;
  previous: string;
  provider: string;
  precision: Precision;
  /** One line per expected object; null when the package has no self-test. */
  self_test: string[] | null;
  load_ms: number;
  warmup_ms: number;
  /** Seconds the new version is watched before it counts as good; 0: no watch. */
  probation_s: number;
  /** true when no running stream uses the model: the pointer moved, streams pick it up at the next start. */
  deferred: boolean;
}

export interface InstallRequest {
  file?: string | undefined;
  url?: string | undefined;
  /** A package sent over the control socket with models.upload (vigilctl models install FILE). */
  upload?: string | undefined;
  activate: boolean;
}

export interface ModelListing {
  name: string;
  active: string;
  previous: string | null;
  state: 'probation' | 'active';
  activated_at: string | null;
  provider: string | null;
  probation: { elapsed_s: number; inferences: number; failed: number } | null;
  last_rollback: RollbackRecord | null;
  versions: { version: string; installed_at: string; bytes: number; key_id: string; precisions: Precision[]; created: string }[];
}

export interface ModelsList {
  device_class: string;
  models: ModelListing[];
  /** Package downloads in progress (their model is known once the header has arrived and been verified). */
  downloads: { url: string; received: number; total: number | null }[];
}

interface Watch {
  version: string;
  baseline: DetectSample[];
  /** The newest samples (at most WATCH_WINDOW); the verdict is about recent behaviour. */
  seen: DetectSample[];
  total: number;
  failed: number;
  started: number;
  lastJudged: number;
  done: boolean;
}

/** Samples the watch judges; bounded so that 8 streams at 30 fps for 5 minutes cost no more than one. */
const WATCH_WINDOW = 1000;
/** Between verdicts on good samples; a failed sample is judged at once. */
const JUDGE_EVERY_MS = 250;

const MARKER = 'probation.running';

/**
 * The model lifecycle on the device: packages in, versions activated between two frames, a
 * probation watch on each new version, and the step back when it fails. One operation per model
 * at a time; every outcome is logged and reported to the hub as a model event.
 */
export class ModelManager {
  readonly store: ModelStore;
  private readonly uploads: PackageUploads;
  private readonly trusted: PublicKeyEntry[] = [];
  private readonly holders = new Map<string, SwappableDetector>();
  private readonly watches = new Map<string, Watch>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly downloads = new Map<string, { url: string; progress: DownloadProgress }>();
  private readonly deviceClass: string;
  private readonly limits: ProbationLimits;
  private offers: OfferSource | null = null;
  private readonly stopping = new AbortController();
  private readonly background = new Set<Promise<unknown>>();
  /** Offers already acted on (installed, refused, or found installed), so a retained offer is not looked at again at every reconnect. */
  private readonly refusedOffers = new Set<string>();

  constructor(private readonly opts: ModelManagerOptions) {
    const ms = opts.config.model_store;
    this.store = new ModelStore(path.join(opts.config.storage.dir, 'models'));
    this.uploads = new PackageUploads(this.store.downloadsDir());
    this.deviceClass = opts.deviceClass ?? ms.device_class ?? detectDeviceClass();
    const p = ms.probation;
    this.limits = {
      durationMs: p.duration_s * 1000, minFrames: p.min_frames, maxErrorRatio: p.max_error_ratio,
      maxLatencyRatio: p.max_latency_ratio, minDetectionRatio: p.min_detection_ratio, minBaselineDetections: p.min_baseline_detections,
    };
    for (const ref of ms.trusted_keys) {
      try {
        this.trusted.push(loadPublicKey(ref));
      } catch (err) {
        // One unreadable key costs the packages it signed, not the daemon.
        opts.log.error({ err: errorMessage(err) }, 'trusted model key unusable');
      }
    }
  }

  private get log(): Logger {
    return this.opts.log;
  }

  private ref(name: string): ModelRef {
    const ref = this.opts.config.models.find((m) => m.name === name);
    if (!ref) {
      throw new PackageError('unknown_model', `model "${name}" is not configured (configured: ${this.opts.config.models.map((m) => m.name).join(', ') || 'none'})`);
    }
    return ref;
  }

  /** Runs `fn` after every other operation on the same model has finished. */
  private exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return run;
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch(() => undefined);
    this.background.add(t);
    void t.then(() => this.background.delete(t));
  }

  /** Opens a detector for one version: "config" is vigil.yaml's manifest, anything else a stored package. */
  private async loadVersion(ref: ModelRef, version: string): Promise<{ detector: Detector; precision: Precision }> {
    const cfg = this.opts.config;
    const providers = ref.providers ?? cfg.inference.providers;
    const log = this.log.child({ model: ref.name, version });
    const load = cfg.inference.worker ? loadWorkerDetector : loadDetector;
    if (version === CONFIG_VERSION) {
      const detector = await load({
        name: ref.name, manifestPath: ref.manifest, modelsDir: cfg.models_dir, providers, threads: cfg.inference.threads,
        engineCacheDir: path.join(cfg.storage.dir, 'tensorrt'),
      }, log);
      return { detector, precision: 'fp32' };
    }
    let record;
    try {
      record = await this.store.record(ref.name, version);
    } catch {
      const known = (await this.store.versions(ref.name)).map((v) => v.version);
      throw new PackageError('unknown_version', `${ref.name} has no installed version "${version}" (installed: ${known.join(', ') || 'none'})`);
    }
    const choice = chooseVariant(record.manifest, this.deviceClass, providers);
    const sha = record.manifest.files.find((f) => f.name === choice.file)?.sha256 ?? '';
    const detector = await load({
      name: ref.name, manifestPath: this.store.manifestPath(ref.name, version, choice.precision), providers: choice.providers,
      threads: cfg.inference.threads, precision: choice.precision,
      engineCacheDir: path.join(cfg.storage.dir, 'tensorrt', engineCacheKey(sha, choice.precision, this.deviceClass)),
    }, log);
    return { detector, precision: choice.precision };
  }

  /**
   * The detector the streams of `ref` hold, at start: the store's active version when there is
   * one, else vigil.yaml's manifest. A version that was still on probation when the daemon died
   * is rolled back here (the death may have been its fault); one that no longer loads falls back
   * to the previous version, then to the configured model.
   */
  async open(ref: ModelRef): Promise<SwappableDetector> {
    let pointer: Pointer | null = null;
    try {
      pointer = await this.store.pointer(ref.name);
    } catch (err) {
      this.log.error({ model: ref.name, err: errorMessage(err) }, 'model store pointer unreadable: using the configured model');
    }
    const candidates: { version: string; reason?: string }[] = [];
    if (pointer && pointer.active !== CONFIG_VERSION) {
      const crashed = pointer.state === 'probation' && existsSync(path.join(this.store.root, ref.name, MARKER));
      if (!crashed) candidates.push({ version: pointer.active });
      const fallback = pointer.previous ?? CONFIG_VERSION;
      candidates.push({ version: fallback, reason: crashed ? `vigild stopped without a clean shutdown while ${pointer.active} was on probation`
        : `version ${pointer.active} did not load` });
      if (fallback !== CONFIG_VERSION) candidates.push({ version: CONFIG_VERSION, reason: `neither ${pointer.active} nor ${fallback} loaded` });
    } else {
      candidates.push({ version: CONFIG_VERSION });
    }
    let lastErr: unknown;
    for (const c of candidates) {
      try {
        const { detector } = await this.loadVersion(ref, c.version);
        const holder = new SwappableDetector(detector, c.version);
        this.holders.set(ref.name, holder);
        if (pointer && c.reason !== undefined) await this.recordRollback(ref.name, pointer.active, c.version, c.reason, true);
        else if (pointer?.state === 'probation' && c.version === pointer.active) {
          await this.writeMarker(ref.name);
          this.startWatch(ref.name, c.version, []);
        }
        return holder;
      } catch (err) {
        lastErr = err;
        this.log.error({ model: ref.name, version: c.version, err: errorMessage(err) }, 'model version did not load');
      }
    }
    throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
  }

  /** Subscribes to the hub's offers (when enabled). */
  start(offers: OfferSource | null): void {
    if (!offers || !this.opts.config.model_store.hub_offers) return;
    this.offers = offers;
    offers.subscribe(modelOfferFilter(this.opts.config.device.site), (topic, payload) => this.onOffer(topic, payload), 1);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    if (this.offers) this.offers.unsubscribe(modelOfferFilter(this.opts.config.device.site));
    for (const [name, w] of this.watches) {
      this.holders.get(name)?.observe(null);
      w.done = true;
      // A clean stop is not the new version's fault: keep it on probation, but not "died during it".
      await rm(path.join(this.store.root, name, MARKER), { force: true });
    }
    this.watches.clear();
    await Promise.allSettled([...this.background]);
  }

  activeVersion(name: string): string | null {
    return this.holders.get(name)?.version ?? null;
  }

  async list(): Promise<ModelsList> {
    const out: ModelListing[] = [];
    for (const ref of this.opts.config.models) {
      const pointer = await this.store.pointer(ref.name).catch(() => null);
      const holder = this.holders.get(ref.name);
      const watch = this.watches.get(ref.name);
      out.push({
        name: ref.name,
        active: holder?.version ?? pointer?.active ?? CONFIG_VERSION,
        previous: pointer?.previous ?? null,
        state: pointer?.state ?? 'active',
        activated_at: pointer?.activated_at ?? null,
        provider: holder?.info.provider ?? null,
        probation: watch && !watch.done ? {
          elapsed_s: Math.round((Date.now() - watch.started) / 100) / 10, inferences: watch.total, failed: watch.failed,
        } : null,
        last_rollback: pointer?.last_rollback ?? null,
        versions: (await this.store.versions(ref.name)).map((v) => ({
          version: v.version, installed_at: v.installed_at, bytes: v.bytes, key_id: v.key_id,
          precisions: v.manifest.variants.map((x) => x.precision), created: v.manifest.created,
        })),
      });
    }
    return {
      device_class: this.deviceClass, models: out,
      downloads: [...this.downloads.values()].map((d) => ({ url: d.url, received: d.progress.received, total: d.progress.total })),
    };
  }

  private refused(name: string, version: string, err: unknown): never {
    const code: RefusalCode | 'failed' = err instanceof PackageError ? err.code : 'failed';
    this.log.warn({ model: name, version, code, err: errorMessage(err) }, 'model package refused');
    this.opts.report('warning', { model: name, action: 'refused', version, code, reason: errorMessage(err) });
    throw err;
  }

  /** Downloads (from a URL) or reads (a file) a package, verifies and stores it, then activates it unless asked not to. */
  async install(req: InstallRequest & { atRestart?: boolean }): Promise<{ name: string; version: string; installed: boolean; activation: ActivationResult | null }> {
    let file: string;
    let downloaded: string | null = null;
    if (req.url !== undefined) {
      const url = req.url;
      const dest = path.join(this.store.downloadsDir(), `${createHash('sha256').update(url).digest('hex').slice(0, 16)}.vpkg`);
      const entry = { url, progress: { received: 0, total: null } as DownloadProgress };
      this.downloads.set(url, entry);
      try {
        const r = await download(url, dest, {
          signal: this.stopping.signal,
          onProgress: (p) => {
            entry.progress = p;
            this.log.info({ url, received: p.received, total: p.total, percent: p.total ? Math.floor((100 * p.received) / p.total) : null },
              'model download progress');
          },
        });
        this.log.info({ url, bytes: r.bytes, resumed_from: r.resumedFrom }, 'model package downloaded');
      } catch (err) {
        this.refused('unknown', 'unknown', err);
      } finally {
        this.downloads.delete(url);
      }
      file = dest;
      downloaded = dest;
    } else if (req.upload !== undefined) {
      file = await this.uploads.finished(req.upload);
      downloaded = file;
    } else if (req.file !== undefined) {
      file = req.file;
    } else {
      throw new PackageError('unreadable', 'give a package file or a URL');
    }

    // The header names the model; only a configured model's packages are taken in.
    let name = 'unknown';
    let version = 'unknown';
    let result;
    try {
      const header = await readPackageHeader(file, this.trusted);
      name = header.manifest.name;
      version = header.manifest.version;
      this.ref(name);
      result = await this.exclusive(name, () => this.store.install(file, this.trusted));
    } catch (err) {
      // Refused before its header was verified (an untrusted key, say): logged as what it claims to be.
      if (name === 'unknown') ({ name, version } = await claimedIdentity(file));
      this.refused(name, version, err);
    }
    if (downloaded !== null) await rm(downloaded, { force: true });
    if (result.installed) {
      this.log.info({ model: name, version, files: result.manifest.files.length }, 'model package installed');
      this.opts.report('info', { model: name, action: 'installed', version });
    }
    const activation = req.activate ? await this.activate(name, version, req.atRestart ?? false) : null;
    return { name, version, installed: result.installed, activation };
  }

  /** One piece of a package sent over the control socket (see uploads.ts); returns the bytes received so far. */
  async upload(id: string, offset: number, data: Buffer): Promise<{ upload: string; received: number }> {
    if (offset === 0) await this.uploads.pruneAbandoned();
    return { upload: id, received: await this.uploads.append(id, offset, data) };
  }

  /** Loads, checks, self-tests and warms up `version`, then swaps it in between two frames and starts its probation. */
  activate(name: string, version: string, atRestart = false): Promise<ActivationResult> {
    return this.exclusive(name, async () => {
      const ref = this.ref(name);
      // At restart: the new version is checked now but swapped in by the next start, which also
      // rebuilds the pipelines for its input size.
      const holder = atRestart ? undefined : this.holders.get(name);
      const pointer = await this.store.pointer(name);
      const current = this.holders.get(name)?.version ?? pointer?.active ?? CONFIG_VERSION;
      if (version === current) throw new PackageError('exists', `${name} version ${version} is already active`);
      try {
        const r = await this.prepare(ref, version, holder);
        // Written before the swap: if vigild dies from now on, the next start knows it died on this version's watch.
        if (holder && this.limits.durationMs > 0) await this.writeMarker(name);
        if (!holder) {
          await r.detector.close();
        } else {
          const { baseline, retired } = holder.swap(r.detector, version);
          this.track(retired.catch((err: unknown) => this.log.warn({ model: name, err: errorMessage(err) }, 'closing the previous model failed')));
          this.startWatch(name, version, baseline);
        }
        const probation = (holder !== undefined || atRestart) && this.limits.durationMs > 0;
        await this.store.setPointer(name, {
          active: version, previous: current, activated_at: new Date().toISOString(), state: probation ? 'probation' : 'active',
          ...(pointer?.last_rollback ? { last_rollback: pointer.last_rollback } : {}),
        });
        const removed = await this.store.prune(name, this.opts.config.model_store.keep_versions, this.opts.config.model_store.max_disk_mb * 2 ** 20);
        const result: ActivationResult = {
          name, version, previous: current, provider: r.detector.info.provider, precision: r.precision, self_test: r.selfTest,
          load_ms: r.loadMs, warmup_ms: r.warmupMs, probation_s: probation ? this.limits.durationMs / 1000 : 0, deferred: !holder,
        };
        this.log.info({ ...result, pruned: removed }, holder ? 'model version activated: streams switched' : 'model version activated for the next start');
        this.opts.report('info', { model: name, action: 'activated', version, active: version });
        return result;
      } catch (err) {
        this.refused(name, version, err);
      }
    });
  }

  private async prepare(ref: ModelRef, version: string, holder: SwappableDetector | undefined):
    Promise<{ detector: Detector; precision: Precision; selfTest: string[] | null; loadMs: number; warmupMs: number }> {
    const t0 = performance.now();
    let loaded;
    try {
      loaded = await this.loadVersion(ref, version);
    } catch (err) {
      if (err instanceof PackageError) throw err;
      throw new PackageError('load_failed', errorMessage(err), { cause: err });
    }
    const { detector, precision } = loaded;
    const loadMs = performance.now() - t0;
    try {
      if (holder) {
        const want = holder.inputSize();
        const got = detector.inputSize();
        if (want.width !== got.width || want.height !== got.height || want.letterbox !== got.letterbox) {
          throw new PackageError('incompatible', `${ref.name} version ${version} needs ${got.width}x${got.height} ${got.letterbox ? 'letterboxed' : 'stretched'} ` +
            `frames, but the running streams are built for ${want.width}x${want.height} ${want.letterbox ? 'letterboxed' : 'stretched'}: ` +
            'a swap without a stream restart cannot change the input size; activate it for the next start ' +
            `(vigilctl models activate --at-restart, then restart vigild) or publish a ${want.width}x${want.height} version`);
        }
      }
      let selfTest: string[] | null = null;
      if (version !== CONFIG_VERSION) {
        const record = await this.store.record(ref.name, version);
        const test = record.manifest.self_test;
        if (test) {
          const r = await runSelfTest(detector, test, path.join(this.store.versionDir(ref.name, version), test.image));
          if (!r.passed) throw new PackageError('self_test_failed', `${ref.name} version ${version} failed its self-test: ${r.lines.join('; ')}`);
          selfTest = r.lines;
        }
      }
      // Warm-up: on TensorRT the first runs build or load the engine; the streams must not wait for that.
      const t1 = performance.now();
      const blank = blankFrame(detector.inputSize());
      for (let i = 0; i < 3; i++) await detector.detect(blank);
      return { detector, precision, selfTest, loadMs, warmupMs: performance.now() - t1 };
    } catch (err) {
      await detector.close().catch(() => undefined);
      if (err instanceof PackageError) throw err;
      throw new PackageError('load_failed', `${ref.name} version ${version} failed its warm-up: ${errorMessage(err)}`, { cause: err });
    }
  }

  private async writeMarker(name: string): Promise<void> {
    await mkdir(path.join(this.store.root, name), { recursive: true });
    await writeFile(path.join(this.store.root, name, MARKER), `${process.pid}\n`);
  }

  private startWatch(name: string, version: string, baseline: DetectSample[]): void {
    const holder = this.holders.get(name);
    if (!holder || this.limits.durationMs <= 0) return;
    const watch: Watch = { version, baseline, seen: [], total: 0, failed: 0, started: Date.now(), lastJudged: 0, done: false };
    this.watches.set(name, watch);
    holder.observe((s) => {
      if (watch.done) return;
      watch.seen.push(s);
      if (watch.seen.length > WATCH_WINDOW) watch.seen.shift();
      watch.total += 1;
      if (!s.ok) watch.failed += 1;
      const now = Date.now();
      if (s.ok && watch.total > this.limits.minFrames && now - watch.lastJudged < JUDGE_EVERY_MS) return;
      watch.lastJudged = now;
      const v = judge(watch.baseline, watch.seen, now - watch.started, this.limits);
      if (v.verdict === 'continue') return;
      watch.done = true;
      holder.observe(null);
      if (this.watches.get(name) === watch) this.watches.delete(name);
      if (v.verdict === 'fail') {
        this.log.error({ model: name, version, reason: v.reason }, 'model failed probation: rolling back');
        this.track(this.rollback(name, `probation failed: ${v.reason}`, true, version)
          .catch((err: unknown) => this.log.error({ model: name, err: errorMessage(err) }, 'automatic rollback failed')));
      } else {
        this.log.info({ model: name, version, summary: v.summary }, 'model passed probation');
        this.track(this.exclusive(name, async () => {
          const p = await this.store.pointer(name);
          if (p?.active === version) await this.store.setPointer(name, { ...p, state: 'active' });
          await rm(path.join(this.store.root, name, MARKER), { force: true });
          this.opts.report('info', { model: name, action: 'probation_passed', version, reason: v.summary });
        }));
      }
    });
  }

  /**
   * Steps back to the previous version (or the configured model). `onlyFrom`: an automatic rollback
   * applies only while that version is still the active one.
   */
  rollback(name: string, reason = 'asked by an operator', automatic = false, onlyFrom?: string):
    Promise<{ name: string; from: string; to: string; reason: string }> {
    return this.exclusive(name, async () => {
      const ref = this.ref(name);
      const holder = this.holders.get(name);
      const pointer = await this.store.pointer(name);
      const from = holder?.version ?? pointer?.active ?? CONFIG_VERSION;
      if (onlyFrom !== undefined && from !== onlyFrom) return { name, from, to: from, reason: 'superseded' };
      const to = pointer?.previous ?? (from !== CONFIG_VERSION ? CONFIG_VERSION : null);
      if (to === null || to === from) throw new PackageError('no_previous', `${name} has no previous version to roll back to`);
      const watch = this.watches.get(name);
      if (watch) {
        watch.done = true;
        holder?.observe(null);
        this.watches.delete(name);
      }
      // The version being left is the one that failed: what runs after must load without ceremony.
      const { detector } = await this.loadVersion(ref, to);
      if (holder) {
        const { retired } = holder.swap(detector, to);
        this.track(retired.catch(() => undefined));
      } else {
        await detector.close();
      }
      await this.recordRollback(name, from, to, reason, automatic);
      return { name, from, to, reason };
    });
  }

  private async recordRollback(name: string, from: string, to: string, reason: string, automatic: boolean): Promise<void> {
    const record: RollbackRecord = { from, to, reason, at: new Date().toISOString(), automatic };
    // Rolled back to: nothing before it is known any more, except that the configured model always is.
    await this.store.setPointer(name, {
      active: to, previous: to === CONFIG_VERSION ? null : CONFIG_VERSION, activated_at: record.at, state: 'active', last_rollback: record,
    });
    await rm(path.join(this.store.root, name, MARKER), { force: true });
    this.log.warn({ model: name, from, to, reason, automatic }, 'model rolled back');
    this.opts.report('warning', { model: name, action: 'rolled_back', version: from, active: to, reason, automatic });
  }

  private onOffer(topic: string, payload: Buffer): void {
    if (payload.length === 0) return; // a cleared retained offer
    let offer: ModelOffer;
    try {
      offer = modelOfferSchema.parse(JSON.parse(payload.toString('utf8')));
    } catch (err) {
      this.log.warn({ topic, err: errorMessage(err) }, 'ignoring a malformed model offer');
      return;
    }
    const device = this.opts.config.device.id;
    const about = { model: offer.name, version: offer.version, url: offer.url };
    if (offer.devices && !offer.devices.includes(device)) {
      this.log.debug(about, 'hub model offer is for other devices');
      return;
    }
    if (!this.opts.config.models.some((m) => m.name === offer.name)) {
      this.log.debug(about, 'hub model offer names a model this device does not configure (models:)');
      return;
    }
    this.track((async () => {
      const key = `${offer.name}\0${offer.version}\0${offer.url}`;
      // Retained offers arrive again at every connect: act only on what is new, and say once why not.
      if (this.refusedOffers.has(key)) return;
      this.refusedOffers.add(key);
      if ((await this.store.versions(offer.name)).some((v) => v.version === offer.version)) {
        this.log.info(about, 'hub offers a model version already installed: nothing to do (vigilctl models activate selects it)');
        return;
      }
      this.log.info(about, 'hub offers a model package');
      await this.install({ url: offer.url, activate: offer.activate });
    })().catch((err: unknown) => this.log.warn({ model: offer.name, version: offer.version, err: errorMessage(err) }, 'hub offer not installed')));
  }
}
