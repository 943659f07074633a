import { seededRandom, type Sample } from '../../daemon/learning/model.js';
import { gaussian } from '../../daemon/learning/privacy.js';
import { EMBEDDING_DIM, featureVector, type EventContext } from '../../daemon/learning/features.js';

/**
 * Synthetic reviewed events with the structure of the real ones, for the federated simulation.
 *
 * Embeddings: true alarms are people, drawn around four appearance prototypes that share a common
 * "person" direction; false alarms come in five kinds (shadows, foliage, reflections, rain, animals),
 * each around its own prototype. Every camera adds its own lighting offset. Context follows the
 * kind: people score higher, have tall boxes, live longer as tracks; shadows come at dawn and dusk,
 * rain at night, foliage moves fast and short. 5 % of labels are flipped (operators err).
 *
 * Non-IID: each device sees mostly one kind of false alarm (its own site's nuisance), a different
 * share of true alarms, and its own lighting; the held-out set is drawn over all devices and kinds.
 */
export const FALSE_KINDS = ['shadow', 'foliage', 'reflection', 'rain', 'animal'] as const;

export interface World {
  person: Float64Array;
  people: Float64Array[];
  nuisances: Float64Array[];
  lighting: Float64Array[];
}

function unit(v: Float64Array): Float64Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  return v.map((x) => x / n);
}

function randomDirection(rand: () => number): Float64Array {
  return unit(Float64Array.from({ length: EMBEDDING_DIM }, () => gaussian(rand)));
}

export function makeWorld(seed = 7, devices = 5): World {
  const rand = seededRandom(seed);
  const person = randomDirection(rand);
  const people = Array.from({ length: 4 }, () => unit(person.map((p, i) => 0.75 * p + 0.66 * randomDirection(rand)[i]!)));
  const nuisances = FALSE_KINDS.map(() => {
    // Nuisances are not unlike people (the detector took them for one): part of the person direction.
    const d = randomDirection(rand);
    return unit(person.map((p, i) => 0.45 * p + 0.9 * d[i]!));
  });
  const lighting = Array.from({ length: devices }, () => randomDirection(rand).map((x) => x * 0.35));
  return { person, people, nuisances, lighting };
}

export interface DeviceProfile {
  /** Share of true alarms among reviewed events. */
  trueShare: number;
  /** The false-alarm kind this site mostly has, and how much of its false alarms it is. */
  mainNuisance: number;
  mainShare: number;
}

export const profiles: DeviceProfile[] = [
  { trueShare: 0.25, mainNuisance: 0, mainShare: 0.9 },
  { trueShare: 0.4, mainNuisance: 1, mainShare: 0.9 },
  { trueShare: 0.55, mainNuisance: 2, mainShare: 0.9 },
  { trueShare: 0.35, mainNuisance: 3, mainShare: 0.9 },
  { trueShare: 0.7, mainNuisance: 4, mainShare: 0.9 },
];

const HOUR = 3_600_000;

function drawOne(world: World, device: number, isTrue: boolean, kind: number, rand: () => number): Float32Array {
  const proto = isTrue ? world.people[Math.floor(rand() * world.people.length)]! : world.nuisances[kind]!;
  const light = world.lighting[device % world.lighting.length]!;
  const emb = unit(proto.map((p, i) => p + light[i]! + 0.045 * gaussian(rand) * Math.sqrt(EMBEDDING_DIM) / 8));
  const clamp01 = (v: number): number => Math.min(1, Math.max(0, v));
  const W = 1920;
  const H = 1080;
  let hourOfDay = rand() * 24;
  let score = clamp01(0.72 + 0.12 * gaussian(rand));
  let h = (0.18 + 0.08 * gaussian(rand)) * H;
  let aspect = 0.42 + 0.08 * gaussian(rand);
  let age = Math.exp(1.5 + 0.8 * gaussian(rand));
  let speed = Math.abs(0.1 + 0.05 * gaussian(rand));
  let label = 'person';
  if (!isTrue) {
    score = clamp01(0.55 + 0.13 * gaussian(rand));
    age = Math.exp(0.5 + 1 * gaussian(rand));
    switch (FALSE_KINDS[kind]) {
      case 'shadow': hourOfDay = (rand() < 0.5 ? 6.5 : 18.5) + 1.2 * gaussian(rand); aspect = 0.9 + 0.3 * gaussian(rand); speed = 0.02 * rand(); break;
      case 'foliage': speed = 0.4 + 0.2 * rand(); h = (0.1 + 0.05 * gaussian(rand)) * H; break;
      case 'reflection': aspect = 0.5 + 0.2 * gaussian(rand); speed = 0.05 * rand(); break;
      case 'rain': hourOfDay = 22 + 4 * rand(); score = clamp01(0.45 + 0.1 * gaussian(rand)); break;
      case 'animal': label = rand() < 0.5 ? 'dog' : 'person'; aspect = 1.4 + 0.3 * gaussian(rand); h = (0.08 + 0.03 * gaussian(rand)) * H; break;
      case undefined: break;
    }
  }
  h = Math.min(H * 0.9, Math.max(20, h));
  const w = Math.min(W * 0.9, Math.max(10, h * Math.max(0.1, aspect)));
  const cx = W * (0.1 + 0.8 * rand());
  const cy = H * (0.3 + 0.6 * rand());
  const context: EventContext = {
    label, score, box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], sourceWidth: W, sourceHeight: H,
    rule: `zone-${device}`, ts: Date.UTC(2026, 10, 1) + ((hourOfDay % 24) + 24) % 24 * HOUR, utcOffsetMin: 0,
    trackAgeS: age, speed,
  };
  return featureVector(Float32Array.from(emb), context);
}

/** `n` reviewed events of one device; labels flipped with probability `noise`. */
export function deviceData(world: World, device: number, n: number, seed: number, noise = 0.05): Sample[] {
  const rand = seededRandom(seed * 7919 + device);
  const p = profiles[device % profiles.length]!;
  const out: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const isTrue = rand() < p.trueShare;
    const kind = rand() < p.mainShare ? p.mainNuisance : Math.floor(rand() * FALSE_KINDS.length);
    const x = drawOne(world, device, isTrue, kind, rand);
    const flip = rand() < noise;
    out.push({ x, y: (isTrue !== flip) ? 1 : 0 });
  }
  return out;
}

/** Held-out events over every device, half true alarms, false alarms of every kind alike. */
export function heldOut(world: World, devices: number, perDevice: number, seed: number): Sample[] {
  const rand = seededRandom(seed);
  const out: Sample[] = [];
  for (let d = 0; d < devices; d++) {
    for (let i = 0; i < perDevice; i++) {
      const isTrue = rand() < 0.5;
      out.push({ x: drawOne(world, d, isTrue, Math.floor(rand() * FALSE_KINDS.length), rand), y: isTrue ? 1 : 0 });
    }
  }
  return out;
}
