import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/** One INA3221 channel: a named supply rail of the module. */
export interface PowerRail {
  /** The channel's label from the device tree, e.g. VDD_GPU_SOC on an AGX Orin. */
  rail: string;
  powerMw: number;
  voltageMv: number;
  currentMa: number;
}

/** External memory controller: how busy, at what clock. */
export interface EmcReading {
  loadPercent: number;
  freqMhz: number;
}

export interface JetsonReading {
  emc: EmcReading | null;
  rails: PowerRail[];
}

/**
 * INA3221 power monitors as hwmon devices (L4T 34 and later: `ina3221`; the older out-of-tree
 * driver `ina3221x` exposed iio files instead and is not read). On an AGX Orin two chips on I2C bus 1:
 * 1-0040 (VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0) and 1-0041 (VDDQ_VDD2_1V8AO; its other inputs are
 * disabled in the device tree and have no label, or read "NC").
 */
const INA3221_DRIVER = 'bus/i2c/drivers/ina3221';

/** The EMC clock, in Hz, from the BPMP's debugfs (Orin). Root only: debugfs is mode 0700. */
const EMC_RATE = 'kernel/debug/bpmp/debug/clk/emc/rate';
/**
 * The memory controller's average activity from the central activity monitor; where each L4T
 * release puts it, in the order jetson-stats tries them.
 */
const EMC_ACTIVITY = [
  'kernel/debug/cactmon/mc_all',
  'kernel/debug/bpmp/debug/actmon/mc_all_avg_activity',
  'kernel/actmon_avg_activity/mc_all',
];

const readNumber = async (file: string): Promise<number | null> => {
  try {
    const n = Number((await readFile(file, 'utf8')).trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
};

const readText = async (file: string): Promise<string | null> => {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return null;
  }
};

const list = (dir: string): Promise<string[]> => readdir(dir).catch(() => [] as string[]);

interface RailFiles {
  rail: string;
  voltage: string;
  current: string;
}

/**
 * Jetson-only health from sysfs and debugfs: EMC load and the power rails. `sysRoot` stands for
 * `/sys`, so a test can lay out a Jetson's tree in a temporary directory. Files are looked up once
 * (`discover`); a host without them reads as `{ emc: null, rails: [] }` — absent, not zero.
 */
export class JetsonSysfs {
  private rails: RailFiles[] | undefined;
  private emcFiles: { rate: string; activity: string } | null | undefined;

  constructor(private readonly sysRoot = '/sys') {}

  /** Whether anything Jetson-specific was found (after the first `read`). */
  get present(): boolean {
    return (this.rails?.length ?? 0) > 0 || (this.emcFiles ?? null) !== null;
  }

  async read(): Promise<JetsonReading> {
    this.rails ??= await this.findRails();
    if (this.emcFiles === undefined) this.emcFiles = await this.findEmc();
    const [emc, rails] = await Promise.all([this.readEmc(), Promise.all(this.rails.map((r) => this.readRail(r)))]);
    return { emc, rails: rails.filter((r): r is PowerRail => r !== null) };
  }

  private async findRails(): Promise<RailFiles[]> {
    const driver = path.join(this.sysRoot, INA3221_DRIVER);
    const found: RailFiles[] = [];
    // Devices bound to the driver are links named <bus>-<address>, e.g. 1-0040.
    for (const dev of (await list(driver)).filter((n) => /^\d+-[0-9a-f]{4}$/.test(n)).sort()) {
      const hwmonDir = path.join(driver, dev, 'hwmon');
      for (const hwmon of (await list(hwmonDir)).filter((n) => /^hwmon\d+$/.test(n)).sort()) {
        const dir = path.join(hwmonDir, hwmon);
        const labels = (await list(dir)).map((n) => /^in(\d+)_label$/.exec(n)?.[1]).filter((n): n is string => n !== undefined);
        for (const ch of labels.sort((a, b) => Number(a) - Number(b))) {
          const rail = await readText(path.join(dir, `in${ch}_label`));
          if (rail === null || rail === '' || /^NC$/i.test(rail)) continue;
          const current = path.join(dir, `curr${ch}_input`);
          // The summing channel has a label and a voltage but no current of its own: not a rail.
          if (await readNumber(current) === null) continue;
          found.push({ rail, voltage: path.join(dir, `in${ch}_input`), current });
        }
      }
    }
    return found;
  }

  private async findEmc(): Promise<{ rate: string; activity: string } | null> {
    const rate = path.join(this.sysRoot, EMC_RATE);
    if (await readNumber(rate) === null) return null;
    for (const rel of EMC_ACTIVITY) {
      const activity = path.join(this.sysRoot, rel);
      if (await readNumber(activity) !== null) return { rate, activity };
    }
    return null;
  }

  private async readRail(r: RailFiles): Promise<PowerRail | null> {
    const [mv, ma] = await Promise.all([readNumber(r.voltage), readNumber(r.current)]);
    if (mv === null || ma === null || mv < 0 || ma < 0) return null;
    return { rail: r.rail, voltageMv: mv, currentMa: ma, powerMw: Math.round((mv * ma) / 1000) };
  }

  private async readEmc(): Promise<EmcReading | null> {
    const files = this.emcFiles;
    if (!files) return null;
    const [hz, activity] = await Promise.all([readNumber(files.rate), readNumber(files.activity)]);
    if (hz === null || activity === null || hz <= 0) return null;
    // jetson-stats' formula (activity over the clock in kHz reads as percent); not yet checked
    // against tegrastats' EMC_FREQ on a device here.
    return { loadPercent: Math.min(100, Math.max(0, activity / (hz / 1000))), freqMhz: Math.round(hz / 1e6) };
  }
}
