import { z } from 'zod';
import { configPathSchema } from '../config/config-paths.js';

/**
 * `learning:` in vigil.yaml: the alert verifier learned from operator reviews, pooled through the
 * hub by federated averaging. Off by default; on, it needs the hub's two public keys.
 */
export const learningConfigSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** OSNet x0.25 ONNX file for the appearance embedding; relative paths are from the config file's directory. */
  embedding_model: configPathSchema().optional(),
  /** The device's Ed25519 signing key (PEM); made on first start if absent. Default `<storage.dir>/fl-device.key`. */
  device_key: configPathSchema().optional(),
  /** The hub's Ed25519 public key (PEM) that global models must be signed with. */
  hub_sign_key: configPathSchema().optional(),
  /** The hub's X25519 public key (PEM) that updates are encrypted to. */
  hub_encrypt_key: configPathSchema().optional(),
  /** How often the device looks for a round to take part in (besides at once when a new global model arrives). */
  train_interval_s: z.number().min(1).max(86_400).default(300),
  /** Labelled events needed before the device sends an update. */
  min_samples: z.number().int().min(1).default(20),
  /** Newest labelled events used per round: bounds the work of a round. */
  max_samples: z.number().int().min(1).max(100_000).default(5000),
  /** Local epochs per round; 10 brought FedAvg within a point of central training in the simulation. */
  epochs: z.number().int().min(1).max(100).default(10),
  learning_rate: z.number().positive().max(10).default(0.5),
  /** L2 penalty on the context coefficients. */
  l2: z.number().min(0).max(1).default(1e-3),
  /** L2 penalty on the appearance-embedding coefficients: stronger, so a few hundred reviews do not memorise faces. */
  l2_embedding: z.number().min(0).max(1).default(3e-2),
  /** L2 bound on the weight delta a device sends. */
  clip_norm: z.number().positive().default(5),
  /** Fraction of labelled events kept out of training to measure local and global accuracy. */
  holdout: z.number().min(0).max(0.5).default(0.2),
  /** Differential privacy on the device's updates (Gaussian mechanism, Rényi DP accounting). */
  dp: z.strictObject({
    enabled: z.boolean().default(false),
    /** Total budget over `rounds` rounds; the device stops sending when it is spent. */
    epsilon: z.number().positive().default(8),
    delta: z.number().positive().max(0.1).default(1e-5),
    rounds: z.number().int().min(1).max(10_000).default(50),
  }).prefault({}),
  /** Events the verifier scores below this are kept on the device as likely false alarms. 0 never holds one back. */
  threshold: z.number().min(0).max(1).default(0.2),
}).refine((c) => !c.enabled || (c.hub_sign_key !== undefined && c.hub_encrypt_key !== undefined),
  { message: 'learning.enabled needs hub_sign_key and hub_encrypt_key', path: ['hub_sign_key'] });

export type LearningConfig = z.infer<typeof learningConfigSchema>;
