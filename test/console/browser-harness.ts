import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Role } from '../../daemon/console/user-store.js';
import { manifestPath, MODELS_DIR, spawnDaemon, writeConfig, type Daemon } from '../e2e/daemon-harness.js';
import { startMosquitto } from '../helpers/mosquitto.js';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared.js';

/**
 * The console's browser tests: a real vigild with the console on loopback and a real clip looped
 * at its own pace, and Debian's Chromium driven by playwright-core, headless. Screenshots go to
 * docs/images/console-<page>.png, where the README shows them.
 */

interface TestContext {
  after(fn: () => Promise<void> | void): void;
  diagnostic(message: string): void;
}

export const CHROMIUM = process.env['VIGIL_CHROMIUM'] ?? '/usr/bin/chromium';
export const SCREENSHOTS = path.join(repoRoot, 'docs', 'images');
/** Laptop-sized, so the screenshots show what a technician sees. */
export const VIEWPORT = { width: 1280, height: 800 };
const VIGILCTL = path.join(repoRoot, 'dist', 'cli', 'main.js');

export const PASSWORDS: Readonly<Record<Role, string>> = {
  admin: 'correct horse battery staple', operator: 'operator passphrase 1', viewer: 'viewer passphrase 1',
};

export interface ConsoleDevice {
  daemon: Daemon;
  /** http://127.0.0.1:<port>/ */
  url: string;
  socket: string;
  dir: string;
}

/**
 * Starts vigild on `clip` (looped in real time, NanoDet-m at `fps`) with the console on an
 * ephemeral loopback port and one account per role, made before the start as an installer would.
 */
export async function startConsoleDevice(t: TestContext, clip: string, fps = 2): Promise<ConsoleDevice> {
  const dir = await tempDir(t, 'vigil-console-');
  const broker = await startMosquitto(t);
  const state = path.join(dir, 'state');
  await mkdir(state, { recursive: true });
  for (const role of ['admin', 'operator', 'viewer'] as const) await addUser(state, role);
  const socket = path.join(dir, 'vigild.sock');
  const config = await writeConfig(dir, {
    device: { id: 'console-1', site: 'lab' },
    storage: { dir: state },
    mqtt: { url: broker.url },
    models_dir: MODELS_DIR,
    models: [{ name: 'nanodet-m', manifest: manifestPath('nanodet-m'), providers: ['cpu'] }],
    streams: [{ id: 'room', uri: pathToFileURL(sharedPath('video', clip)).href, model: 'nanodet-m', fps, loop: true, realtime: true }],
    console: { enabled: true, listen: '127.0.0.1:0' },
    telemetry: { prometheus: { enabled: false } },
  });
  const daemon = spawnDaemon(t, ['--config', config], { VIGIL_SOCKET: socket });
  const listening = await daemon.waitForLine('console listening', (l) => l.msg === 'console listening', 60_000);
  await daemon.waitForLine('vigild running', (l) => l.msg === 'vigild running', 60_000);
  return { daemon, url: String(listening['url']), socket, dir };
}

/** `vigilctl console adduser NAME --role ROLE --password-stdin`, as an installer makes the first accounts. */
async function addUser(stateDir: string, role: Role): Promise<void> {
  const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [VIGILCTL, 'console', 'adduser', role, '--role', role, '--password-stdin', '--state-dir', stateDir],
      (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }));
    child.stdin?.end(`${PASSWORDS[role]}\n`);
  });
  if (code !== 0) throw new Error(`vigilctl console adduser ${role} exited ${code}: ${stderr}`);
}

export interface Browsing {
  browser: Browser;
  /** A fresh context (its own cookies) with a page that fails the test on any uncaught page error. */
  page(): Promise<{ context: BrowserContext; page: Page; errors: string[] }>;
}

export async function launchBrowser(t: TestContext): Promise<Browsing> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
  t.after(() => browser.close());
  return {
    browser,
    async page() {
      const context = await browser.newContext({ viewport: VIEWPORT });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      return { context, page, errors };
    },
  };
}

export async function logIn(page: Page, url: string, role: Role): Promise<void> {
  await page.goto(url);
  await page.fill('input[name=user]', role);
  await page.fill('input[name=password]', PASSWORDS[role]);
  await page.click('button[type=submit]');
  await page.waitForSelector('header.top .who');
}

/** Saves the page as docs/images/console-<name>.png; `fullPage` for pages taller than the window (the editor with its live view). */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `console-${name}.png`);
  await page.screenshot({ path: file, fullPage });
  return file;
}
