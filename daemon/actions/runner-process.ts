import { createLogger } from '../log.js';
import { ActionDispatcher, type ActionStats } from './dispatcher.js';
import type { RunnerReply, RunnerRequest } from './runner-messages.js';

/**
 * The action runner's process (see ActionRunner): an ActionDispatcher with its own local-broker
 * client, starting hooks and gpioset itself. It exits when vigild disconnects.
 */
let dispatcher: ActionDispatcher | null = null;
let reported = '';

const send = (m: RunnerReply): void => {
  if (process.connected) process.send?.(m);
};

/** Failures found after an event was done (a hook's exit status) reach vigild's counters this way. */
const stats = (s: ActionStats): void => {
  const now = JSON.stringify(s);
  if (now === reported) return;
  reported = now;
  send({ type: 'stats', stats: s });
};

process.on('message', (m: RunnerRequest) => {
  switch (m.type) {
    case 'init': {
      if (dispatcher) return;
      const log = createLogger(m.logLevel).child({ component: 'actions', runner: process.pid });
      dispatcher = new ActionDispatcher({
        config: m.config, device: m.device, log,
        onDone: (eventId, at, ok) => {
          const s = { ...dispatcher!.stats };
          reported = JSON.stringify(s);
          send({ type: 'done', eventId, at, ok, stats: s });
        },
      });
      dispatcher.start();
      setInterval(() => stats({ ...dispatcher!.stats }), 1000).unref();
      return;
    }
    case 'fire':
      dispatcher?.fire(m.event);
  }
});

process.on('disconnect', () => {
  void (async () => {
    await dispatcher?.stop();
    process.exit(0);
  })();
});
