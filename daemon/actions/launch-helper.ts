import { launchHere, type HelperReply, type HelperRequest } from './launcher.js';

/**
 * The launch helper's process (see HelperLauncher): starts each requested program and reports its
 * spawn, failure and exit. It exits when vigild disconnects, once the programs it started are done.
 */
const send = (m: HelperReply): void => {
  if (process.connected) process.send?.(m);
};

process.on('message', (req: HelperRequest) => {
  launchHere(req, {
    spawn: () => send({ id: req.id, type: 'spawn' }),
    error: (err) => send({ id: req.id, type: 'error', message: err.message }),
    exit: (code, signal, stderr) => send({ id: req.id, type: 'exit', code, signal, stderr }),
  });
});
