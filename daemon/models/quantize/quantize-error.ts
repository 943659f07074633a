import { VigilError } from '../../errors.js';

/** A model, its calibration frames or its quantized result was refused; the message says which and why. */
export class QuantizeError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
  }
}
