import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

/**
 * A throw-away PKI made with the openssl command line, as an operator would: one CA, and leaf
 * certificates with the given common names (a device's is "{site}/{device}"). P-256 keys, one day.
 */
export function makePki(dir: string, leaves: Record<string, { cn: string; san?: string }>): { ca: string; leaves: Record<string, CertFiles> } {
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Vigil test CA']);
  const out: Record<string, CertFiles> = {};
  for (const [name, { cn, san }] of Object.entries(leaves)) {
    // "/" separates RDNs in -subj; a device CN contains one, escaped.
    run(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn.replaceAll('/', '\\/')}`]);
    writeFileSync(path.join(dir, `${name}.ext`), `subjectAltName=${san ?? `DNS:${name}`}\n`);
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.pem`,
      '-days', '1', '-extfile', `${name}.ext`]);
    out[name] = { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
  }
  return { ca: path.join(dir, 'ca.pem'), leaves: out };
}
