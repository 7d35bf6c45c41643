import { createPublicKey, type KeyObject, verify } from "node:crypto";

import { type Certificate, CertNaming } from "@ndn/keychain";
import { SigType, TT } from "@ndn/packet";
import { hasNamePrefix, readNni, readTlv, TLV } from "@ndnreg/shared/ndn";

/** What node:crypto needs to check one signature type. */
interface KeyAlgorithm {
  readonly sigType: number;
  /** Digest for crypto.verify (null: the algorithm hashes itself, as Ed25519 does). */
  readonly digest: string | null;
  /** ECDSA signatures are DER in NDN, as node:crypto reads them by default. */
  readonly dsaEncoding?: "der";
}

function keyAlgorithm(key: KeyObject): KeyAlgorithm {
  switch (key.asymmetricKeyType) {
    case "ec":
      return { sigType: SigType.Sha256WithEcdsa, digest: "sha256", dsaEncoding: "der" };
    case "ed25519":
      return { sigType: SigType.Ed25519, digest: null };
    case "rsa":
      return { sigType: SigType.Sha256WithRsa, digest: "sha256" };
    default:
      throw new Error(`unsupported public key type ${key.asymmetricKeyType ?? "unknown"}`);
  }
}

/**
 * The trust anchor's public key, imported once, checking signed Data straight from its wire bytes
 * (docs/protocol.md, "Signatures and keys"): the KeyLocator must name the anchor's key, the
 * SignatureType must be the key's, and the signature must verify over Name .. SignatureInfo.
 * The same checks as @ndn/keychain's verifier, without decoding the packet into objects or a
 * round of WebCrypto promises per packet: manifest nodes arrive on the client's hot path.
 */
export class AnchorKey {
  private readonly keyNameValue: Uint8Array;
  private readonly algorithm: KeyAlgorithm;
  private readonly key: KeyObject;

  constructor(certificate: Certificate) {
    this.keyNameValue = CertNaming.toKeyName(certificate.name).value;
    this.key = createPublicKey({ key: Buffer.from(certificate.publicKeySpki), format: "der", type: "spki" });
    this.algorithm = keyAlgorithm(this.key);
  }

  /** Why the Data element `packet` is not signed by the anchor's key (undefined: it is). */
  problem(packet: Uint8Array): string | undefined {
    const top = readTlv(packet, 0);
    if (top?.type !== TLV.Data || top.end !== packet.length) {
      return "not a Data packet";
    }
    let sigInfo: { start: number; end: number } | undefined;
    let sigValue: Uint8Array | undefined;
    for (let off = top.valueStart; off < top.end;) {
      const e = readTlv(packet, off, top.end);
      if (!e) {
        return "malformed Data";
      }
      if (e.type === TLV.SignatureInfo) {
        sigInfo = { start: e.valueStart, end: e.end };
      } else if (e.type === TLV.SignatureValue) {
        sigValue = packet.subarray(e.valueStart, e.end);
        if (e.end !== top.end) {
          return "element after SignatureValue";
        }
      }
      off = e.end;
    }
    if (!sigInfo || !sigValue) {
      return "unsigned";
    }
    let sigType: number | undefined;
    let keyLocatorName: Uint8Array | undefined;
    for (let off = sigInfo.start; off < sigInfo.end;) {
      const e = readTlv(packet, off, sigInfo.end);
      if (!e) {
        return "malformed SignatureInfo";
      }
      if (e.type === TLV.SignatureType) {
        sigType = readNni(packet, e.valueStart, e.end);
      } else if (e.type === TT.KeyLocator) {
        const name = readTlv(packet, e.valueStart, e.end);
        keyLocatorName = name?.type === TLV.Name && name.end === e.end ? packet.subarray(name.valueStart, name.end) : undefined;
      }
      off = e.end;
    }
    if (sigType !== this.algorithm.sigType) {
      return `SignatureType ${sigType ?? "missing"}, the anchor's key signs with ${this.algorithm.sigType}`;
    }
    if (!keyLocatorName || !hasNamePrefix(keyLocatorName, this.keyNameValue)) {
      return "KeyLocator does not name the anchor's key";
    }
    // Signed portion: from the Name to the end of SignatureInfo, the exact bytes received.
    const signed = packet.subarray(top.valueStart, sigInfo.end);
    const { digest, dsaEncoding } = this.algorithm;
    let ok: boolean;
    try {
      ok = verify(digest, signed, dsaEncoding ? { key: this.key, dsaEncoding } : this.key, sigValue);
    } catch {
      ok = false; // a malformed signature (bad DER) is a bad signature
    }
    return ok ? undefined : "bad signature";
  }
}
