import { setTimeout as sleep } from "node:timers/promises";

import { generateSigningKey, KeyChain } from "@ndn/keychain";
import { digestSigning, type Name, type Signer } from "@ndn/packet";

import type { Logger } from "@ndnreg/shared";
import { nameText } from "@ndnreg/shared/ndn";

/**
 * Signer for NFD rib/register commands. With a keychain directory, the first key under
 * <prefix>/server is used (created on first start); otherwise digest signing, which NFD's
 * default localhost_security accepts.
 */
export async function openPrefixRegSigner(dir: string | undefined, prefix: Name, log: Logger): Promise<Signer> {
  if (!dir) {
    return digestSigning;
  }
  const keyChain = KeyChain.open(dir);
  const identity = prefix.append("server");
  let [keyName] = await keyChain.listKeys(identity);
  if (keyName) {
    log.info({ key: nameText(keyName), dir }, "using prefix registration key");
  } else {
    const [priv] = await generateSigningKey(keyChain, identity);
    keyName = priv.name;
    await waitUntilSaved(dir, identity, keyName);
    log.info({ key: nameText(keyName), dir }, "created prefix registration key");
  }
  return keyChain.getSigner(keyName);
}

/**
 * NDNts writes the keychain file 200 ms after the last change: wait until a fresh read of the
 * directory has the key, so a restart right after the first start finds it (and so does `ls`).
 */
async function waitUntilSaved(dir: string, identity: Name, keyName: Name): Promise<void> {
  for (let waited = 0; waited < 5000; waited += 100) {
    await sleep(100);
    const onDisk = await KeyChain.open(dir).listKeys(identity);
    if (onDisk.some((k) => k.equals(keyName))) {
      return;
    }
  }
  throw new Error(`--keychain ${dir}: the new key was not saved (is the directory writable?)`);
}
