import { InferenceSession } from 'onnxruntime-node';
import { type CalibrationInput, exposedSession, runExposed } from './calibrate.js';
import { decodeModel, type Graph, type Model, nodeName } from './onnx-graph.js';
import { activationInputs, type QuantPlan } from './qdq-plan.js';

export interface LayerSensitivity {
  node: string;
  op: string;
  /** Noise-to-signal ratio (error energy over signal energy) this node adds in the all-INT8 model. */
  addedNoise: number;
}

/**
 * One pass of the fp32 and one of the all-INT8 model over a few frames, with every planned
 * activation exposed: the noise a node adds is the noise on its output less the worst on its
 * inputs. Two sessions in all, where quantizing one layer at a time would take one per layer
 * (113 for YOLOX-Nano), minutes on a small device.
 */
export async function layerSensitivity(model: Model, qdq: Uint8Array, plan: QuantPlan, input: CalibrationInput,
  threads: number): Promise<LayerSensitivity[]> {
  const tensors = plan.tensors;
  const energy = new Map<string, { signal: number; noise: number }>();
  const fp = await exposedSession(model, tensors, threads);
  const q = await exposedSession(decodeModel(qdq), tensors, threads);
  try {
    for (const frame of input.frames) {
      const ref = new Map<string, Float32Array>();
      await runExposed(fp, input, frame, tensors, (name, d) => ref.set(name, d));
      await runExposed(q, input, frame, tensors, (name, d) => {
        const r = ref.get(name);
        if (r === undefined || r.length !== d.length) return;
        let s = 0;
        let n = 0;
        for (let i = 0; i < d.length; i++) {
          const v = r[i] as number;
          const e = (d[i] as number) - v;
          s += v * v;
          n += e * e;
        }
        const acc = energy.get(name) ?? { signal: 0, noise: 0 };
        acc.signal += s;
        acc.noise += n;
        energy.set(name, acc);
      });
    }
  } finally {
    await release(fp);
    await release(q);
  }
  const nsr = (t: string): number => {
    const e = energy.get(t);
    return e === undefined || e.signal === 0 ? 0 : e.noise / e.signal;
  };
  const graph = model.graph as Graph;
  const out: LayerSensitivity[] = [];
  for (const i of plan.nodes) {
    const n = graph.node[i];
    if (n === undefined) continue;
    const before = Math.max(0, ...activationInputs(n).map((k) => nsr(n.input[k] ?? '')));
    const after = Math.max(0, ...n.output.map(nsr));
    out.push({ node: nodeName(n, i), op: n.opType, addedNoise: Math.max(0, after - before) });
  }
  return out.sort((a, b) => b.addedNoise - a.addedNoise);
}

async function release(s: InferenceSession): Promise<void> {
  await s.release().catch(() => undefined);
}
