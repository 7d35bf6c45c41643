import { generateSigningKey, KeyChain } from "@ndn/keychain";
import { digestSigning, Name, type Signer } from "@ndn/packet";

import type { Logger } from "@ndnreg/shared";

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
  if (!keyName) {
    const [priv] = await generateSigningKey(keyChain, identity);
    keyName = priv.name;
    log.info({ key: keyName.toString(), dir }, "created prefix registration key");
  }
  return keyChain.getSigner(keyName);
}
