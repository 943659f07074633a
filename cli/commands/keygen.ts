import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { errorMessage } from '../../daemon/errors.js';
import { keyFingerprint, rawPublicKey } from '../../daemon/control/signature.js';
import { CliError, EXIT } from '../errors.js';
import type { Output } from '../output.js';

/**
 * `vigilctl keygen`: an operator's Ed25519 key pair. The private key goes to a file only its owner
 * can read; the public key is printed as the lines to add to each device's `remote.operators`.
 */
export function keygenCommand(out: Output): Command {
  return new Command('keygen')
    .description('make an operator signing key; prints the public key for the devices\' config')
    .requiredOption('--out <file>', 'where to write the private key (PEM, mode 0600)')
    .option('--name <name>', 'the operator\'s name in device configs and audit records', process.env['USER'] ?? 'operator')
    .option('--force', 'overwrite an existing file')
    .option('--json', '{ name, key_id, public_key, file }')
    .action((opts: { out: string; name: string; force?: boolean; json?: boolean }) => {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      try {
        // A fresh machine has no ~/.vigil yet: the folder is made, private to its owner like the key.
        mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true, mode: 0o700 });
        writeFileSync(opts.out, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: opts.force ? 'w' : 'wx' });
      } catch (err) {
        const exists = (err as NodeJS.ErrnoException).code === 'EEXIST';
        throw new CliError(exists ? `${opts.out} exists; --force replaces it` : `cannot write ${opts.out}: ${errorMessage(err)}`, EXIT.failed);
      }
      const pub = rawPublicKey(publicKey).toString('base64');
      const keyId = keyFingerprint(publicKey);
      out.result(opts.json, { name: opts.name, key_id: keyId, public_key: pub, file: opts.out }, [
        `wrote ${opts.out}: keep it secret; sign with vigilctl --operator-key ${opts.out}`,
        `key id ${keyId}`,
        'add to each device\'s vigil.yaml:',
        '  remote:',
        '    operators:',
        `      - { name: ${opts.name}, public_key: "${pub}" }`,
      ].join('\n'));
    });
}
