import { readFileSync } from "node:fs";

import { Certificate, createVerifier, SigningAlgorithmListFull } from "@ndn/keychain";
import { Data, type Verifier } from "@ndn/packet";
import { Decoder } from "@ndn/tlv";

import { AnchorKey } from "./anchor-key.js";

/**
 * The server's certificate, as two checkers of the same rule: NDNts' verifier for packets NDNts
 * fetches (metadata, store packets), the imported key for manifest nodes read off the wire.
 */
export interface TrustAnchor {
  readonly certificate: Certificate;
  readonly verifier: Verifier;
  readonly key: AnchorKey;
}

/**
 * The verifier for metadata and manifest nodes: the server's certificate (`ndn-registry-server
 * --print-certificate`, base64 as ndnsec writes it, or the certificate's raw TLV). Packets must
 * name its key in their KeyLocator and carry its signature.
 */
export async function loadTrustAnchor(file: string): Promise<TrustAnchor> {
  let raw: Buffer;
  try {
    raw = readFileSync(file);
  } catch (err: unknown) {
    throw new Error(`--trust-anchor ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const text = raw.toString("latin1");
  const wire = /^[A-Za-z0-9+/=\s]+$/.test(text) ? Buffer.from(text.replace(/\s+/g, ""), "base64") : raw;
  let certificate: Certificate;
  try {
    certificate = Certificate.fromData(new Decoder(wire).decode(Data));
  } catch (err: unknown) {
    throw new Error(`--trust-anchor ${file}: not an NDN certificate (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  try {
    return { verifier: await createVerifier(certificate, { algoList: SigningAlgorithmListFull }), key: new AnchorKey(certificate), certificate };
  } catch (err: unknown) {
    throw new Error(`--trust-anchor ${file}: unusable certificate (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
}
