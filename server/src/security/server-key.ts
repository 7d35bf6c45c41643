import { setTimeout as sleep } from "node:timers/promises";

import { Certificate, CertNaming, ECDSA, generateSigningKey, KeyChain } from "@ndn/keychain";
import { digestSigning, type Name, type Signer, ValidityPeriod } from "@ndn/packet";
import { Encoder } from "@ndn/tlv";

import type { Logger } from "@ndnreg/shared";
import { nameText } from "@ndnreg/shared/ndn";

/** The server's keys: one signs prefix registration, the other metadata and manifest nodes. */
export interface ServerKey {
  readonly prefixRegSigner: Signer;
  /** Signs metadata and manifest nodes; its KeyLocator is the key name. */
  readonly dataSigner: Signer;
  /** The self-signed certificate of the data key: the trust anchor clients are given. */
  readonly certificate: Certificate;
  /** True: no keychain, the key lives only in this process (anchored clients refuse its packets). */
  readonly temporary: boolean;
}

/**
 * With a keychain directory, the first key under <prefix>/server (created on first start) signs
 * both rib/register commands and metadata and manifest nodes. Without one, rib/register commands
 * are digest-signed (NFD's default localhost_security accepts them) and a temporary key, made at
 * start and never saved, signs metadata and manifests: clients without an anchor do not check
 * signatures, anchored clients refuse a key they were not given.
 */
export async function openServerKey(dir: string | undefined, prefix: Name, log: Logger): Promise<ServerKey> {
  const identity = prefix.append("server");
  if (!dir) {
    const [priv, pub] = await generateSigningKey(identity, ECDSA);
    const certificate = await Certificate.selfSign({ privateKey: priv, publicKey: pub, validity: ValidityPeriod.daysFromNow(3650) });
    log.warn({ key: nameText(priv.name) }, "no --keychain: metadata and manifests are signed by a temporary key, which clients with a trust anchor refuse");
    return { prefixRegSigner: digestSigning, dataSigner: priv, certificate, temporary: true };
  }
  const keyChain = KeyChain.open(dir);
  let [keyName] = await keyChain.listKeys(identity);
  const created = !keyName;
  if (!keyName) {
    const [priv] = await generateSigningKey(keyChain, identity);
    keyName = priv.name;
  }
  let certName = (await keyChain.listCerts(keyName))[0];
  if (!certName) { // a new key, or one made for prefix registration only by an earlier version
    const { signer, verifier } = await keyChain.getKeyPair(keyName) as KeyChain.KeyPair<true>;
    const cert = await Certificate.selfSign({ privateKey: signer, publicKey: verifier, validity: ValidityPeriod.daysFromNow(3650) });
    await keyChain.insertCert(cert);
    certName = cert.name;
    await waitUntilSaved(dir, keyName, certName);
  }
  log.info({ key: nameText(keyName), dir }, created ? "created server key" : "using server key");
  const signer = await keyChain.getSigner(keyName);
  return { prefixRegSigner: signer, dataSigner: signer, certificate: await keyChain.getCert(certName), temporary: false };
}

/** A certificate in base64 with 64-character lines, as `ndnsec cert-dump` writes it. */
export function certificateBase64(cert: Certificate): string {
  return Buffer.from(Encoder.encode(cert.data)).toString("base64").replace(/(.{64})/g, "$1\n").replace(/\n?$/, "\n");
}

/** The key name of a certificate (for logs). */
export function certificateKeyName(cert: Certificate): Name {
  return CertNaming.toKeyName(cert.name);
}

/**
 * NDNts writes the keychain file 200 ms after the last change: wait until a fresh read of the
 * directory has the certificate (inserted after the key), so a restart right after the first
 * start finds both (and so does `ls`).
 */
async function waitUntilSaved(dir: string, keyName: Name, certName: Name): Promise<void> {
  for (let waited = 0; waited < 5000; waited += 100) {
    await sleep(100);
    const onDisk = await KeyChain.open(dir).listCerts(keyName);
    if (onDisk.some((c) => c.equals(certName))) {
      return;
    }
  }
  throw new Error(`--keychain ${dir}: the new key was not saved (is the directory writable?)`);
}
