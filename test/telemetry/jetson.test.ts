import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import type { Output } from '../../cli/output.js';
import { buildProgram } from '../../cli/program.js';
import { JetsonSysfs } from '../../daemon/telemetry/jetson-sysfs.js';
import { telemetrySchema, type TelemetryPayload } from '../../daemon/uplink/payloads.js';
import { spawnDaemon, writeConfig } from '../e2e/daemon-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { tempDir, waitFor } from '../helpers/shared.js';
import { subscribe } from '../uplink/harness.js';

async function put(root: string, rel: string, value: string): Promise<void> {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${value}\n`);
}

/**
 * /sys as a Jetson AGX Orin (L4T 36) lays it out: two INA3221 monitors on I2C bus 1 as hwmon
 * devices (1-0040: VDD_GPU_SOC, VDD_CPU_CV, VIN_SYS_5V0; 1-0041: VDDQ_VDD2_1V8AO, its first input
 * labelled NC), each with the driver's summing channel (in7, a label and a voltage but no current);
 * the EMC clock in the BPMP's debugfs and the memory controller's activity; the GA10B GPU as a
 * devfreq device; thermal zones. Values in the drivers' units: mV, mA, Hz, per mille, m°C.
 */
async function orinSys(root: string, gpuSocMa = 6170): Promise<void> {
  const ina = 'bus/i2c/drivers/ina3221';
  const a = `${ina}/1-0040/hwmon/hwmon3`;
  for (const [ch, label, mv, ma] of [[1, 'VDD_GPU_SOC', 843, gpuSocMa], [2, 'VDD_CPU_CV', 780, 3437], [3, 'VIN_SYS_5V0', 4968, 953]] as const) {
    await put(root, `${a}/in${ch}_label`, label);
    await put(root, `${a}/in${ch}_input`, String(mv));
    await put(root, `${a}/curr${ch}_input`, String(ma));
  }
  await put(root, `${a}/name`, 'ina3221');
  await put(root, `${a}/in7_label`, 'sum of shunt voltages');
  await put(root, `${a}/in7_input`, '60');
  const b = `${ina}/1-0041/hwmon/hwmon4`;
  await put(root, `${b}/in1_label`, 'NC');
  await put(root, `${b}/in1_input`, '0');
  await put(root, `${b}/curr1_input`, '0');
  await put(root, `${b}/in2_label`, 'VDDQ_VDD2_1V8AO');
  await put(root, `${b}/in2_input`, '1800');
  await put(root, `${b}/curr2_input`, '341');
  await put(root, 'kernel/debug/bpmp/debug/clk/emc/rate', '3199000000');
  await put(root, 'kernel/actmon_avg_activity/mc_all', '95970000');
  await put(root, 'class/devfreq/17000000.ga10b/device/load', '512');
  for (const [i, [type, temp]] of ([['cpu-thermal', '51250'], ['gpu-thermal', '49500'], ['tj-thermal', '52000']] as const).entries()) {
    await put(root, `class/thermal/thermal_zone${i}/type`, type);
    await put(root, `class/thermal/thermal_zone${i}/temp`, temp);
  }
}

void test('Jetson sysfs: the AGX Orin rails in mW, the summing and NC channels left out, EMC load; nothing on a PC', async (t) => {
  const dir = await tempDir(t);
  const sys = path.join(dir, 'sys');
  await orinSys(sys);
  const jetson = new JetsonSysfs(sys);
  const r = await jetson.read();
  assert.deepEqual(r.rails, [
    { rail: 'VDD_GPU_SOC', voltageMv: 843, currentMa: 6170, powerMw: 5201 },
    { rail: 'VDD_CPU_CV', voltageMv: 780, currentMa: 3437, powerMw: 2681 },
    { rail: 'VIN_SYS_5V0', voltageMv: 4968, currentMa: 953, powerMw: 4735 },
    { rail: 'VDDQ_VDD2_1V8AO', voltageMv: 1800, currentMa: 341, powerMw: 614 },
  ]);
  assert.deepEqual(r.emc, { loadPercent: 30, freqMhz: 3199 });
  assert.equal(jetson.present, true);

  // Read again at every sample: the files are live values.
  await put(sys, 'bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3/curr1_input', '1000');
  await put(sys, 'kernel/actmon_avg_activity/mc_all', '0');
  const again = await jetson.read();
  assert.equal(again.rails[0]?.powerMw, 843);
  assert.equal(again.emc?.loadPercent, 0);

  // Debugfs unreadable (vigild is not root): rails still, EMC absent.
  const noDebug = path.join(dir, 'nodebug');
  await orinSys(noDebug);
  await writeFile(path.join(noDebug, 'kernel/debug/bpmp/debug/clk/emc/rate'), 'garbage\n');
  const partial = await new JetsonSysfs(noDebug).read();
  assert.equal(partial.emc, null);
  assert.equal(partial.rails.length, 4);

  const pc = new JetsonSysfs(path.join(dir, 'empty'));
  assert.deepEqual(await pc.read(), { emc: null, rails: [] });
  assert.equal(pc.present, false);
});

void test('Jetson health reaches the MQTT report, /metrics and vigilctl status from a fake Orin sysfs', { timeout: 60_000 }, async (t) => {
  const dir = await tempDir(t);
  const sys = path.join(dir, 'sys');
  await orinSys(sys);
  const broker = await startMosquitto(t);
  const socket = path.join(dir, 'vigild.sock');
  const config = await writeConfig(dir, {
    device: { id: 'orin-1', site: 'lab' }, storage: { dir: path.join(dir, 'state') }, mqtt: { url: broker.url },
    // No stream: the sampler does not need one, and a playing pipeline only slows the test.
    streams: [],
    telemetry: { interval_s: 1, prometheus: { listen: '127.0.0.1:0' } },
  });
  const hub = await subscribe(t, broker.url, 'vigil/v1/lab/orin-1/telemetry');
  const vigild = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket, VIGIL_SYSFS_ROOT: sys });
  const listening = await vigild.waitForLine('the metrics endpoint', (l) => l.msg === 'Prometheus metrics at /metrics', 30_000);
  await vigild.waitForLine('running', (l) => l.msg === 'vigild running', 30_000);

  const report: TelemetryPayload = await waitFor('a telemetry report with system values', () => {
    const m = hub.messages.at(-1);
    const p = m ? telemetrySchema.parse(m.json) : undefined;
    return p && p.system.sample_age_s !== null ? p : undefined;
  }, 20_000, 100);
  assert.equal(report.system.emc_load_percent, 30);
  assert.equal(report.system.gpu_load_percent, 51.2);
  assert.equal(report.system.temperature_celsius, 52);
  assert.deepEqual(report.system.power_rails.map((r) => [r.rail, r.power_mw]),
    [['VDD_GPU_SOC', 5201], ['VDD_CPU_CV', 2681], ['VIN_SYS_5V0', 4735], ['VDDQ_VDD2_1V8AO', 614]]);

  const text = await (await fetch(`http://${String(listening['listen'])}/metrics`)).text();
  assert.match(text, /^vigil_power_rail_milliwatts\{rail="VDD_GPU_SOC"\} 5201$/m);
  assert.match(text, /^vigil_power_rail_milliwatts\{rail="VDDQ_VDD2_1V8AO"\} 614$/m);
  assert.match(text, /^vigil_emc_load_percent 30$/m);
  assert.match(text, /^vigil_gpu_load_percent 51\.2$/m);

  const lines: string[] = [];
  const out: Output = { raw: (x) => lines.push(x), result: (_j, _v, h) => lines.push(h), error: (x) => lines.push(x) };
  await buildProgram(out).parseAsync(['status', '--socket', socket], { from: 'user' });
  assert.match(lines.join('\n'), /gpu 51% {2}emc 30% {2}power VDD_GPU_SOC 5\.2 W, VDD_CPU_CV 2\.7 W, VIN_SYS_5V0 4\.7 W, VDDQ_VDD2_1V8AO 0\.6 W {2}disk free/);
  const exit = await vigild.stop().catch((err: unknown) => {
    throw new Error(`${String(err)}\n${vigild.stdout().slice(-3000)}`);
  });
  assert.equal(exit.code, 0);
});
