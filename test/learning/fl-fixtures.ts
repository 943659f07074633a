import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { publicPem, privatePem } from '../../daemon/learning/keys.js';

/** Keys of one simulated site: the hub's two key pairs and one Ed25519 key per device. */
export interface SiteKeys {
  hubSign: KeyObject;
  hubDecrypt: KeyObject;
  devices: KeyObject[];
  registry: Map<string, KeyObject>;
  pem: { hubSignPub: string; hubEncryptPub: string; devices: string[] };
}

export function siteKeys(devices: number): SiteKeys {
  const hubSign = generateKeyPairSync('ed25519').privateKey;
  const hubDecrypt = generateKeyPairSync('x25519').privateKey;
  const keys = Array.from({ length: devices }, () => generateKeyPairSync('ed25519').privateKey);
  return {
    hubSign, hubDecrypt, devices: keys,
    registry: new Map(keys.map((k, i) => [`cam-${i}`, k])),
    pem: { hubSignPub: publicPem(hubSign), hubEncryptPub: publicPem(hubDecrypt), devices: keys.map(privatePem) },
  };
}
