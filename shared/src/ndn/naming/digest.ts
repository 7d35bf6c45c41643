import { fromHex, toHex } from "@ndn/util";

/** A content digest this project can carry over NDN. Only sha256 is published as segments. */
export interface Sha256Digest {
  /** "sha256:<64 lower-case hex>" as registries write it. */
  readonly text: string;
  readonly hex: string;
  readonly bytes: Uint8Array;
}

const SHA256_RE = /^sha256:([a-f0-9]{64})$/;

/** Parse "sha256:<hex>"; undefined for any other algorithm or a malformed value. */
export function parseSha256Digest(text: string): Sha256Digest | undefined {
  const m = SHA256_RE.exec(text);
  if (!m) {
    return undefined;
  }
  const hex = m[1]!;
  return { text, hex, bytes: fromHex(hex) };
}

export function sha256DigestFromBytes(bytes: Uint8Array): Sha256Digest | undefined {
  if (bytes.length !== 32) {
    return undefined;
  }
  const hex = toHex(bytes).toLowerCase();
  return { text: `sha256:${hex}`, hex, bytes };
}
