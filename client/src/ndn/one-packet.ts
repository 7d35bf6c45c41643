import { consume } from "@ndn/endpoint";
import type { Forwarder } from "@ndn/fw";
import type { Data, Interest, Verifier } from "@ndn/packet";

/** How a single-packet fetch ended: the Data, no answer in time, or a refusal (Nack, bad signature). */
export type OnePacket = { readonly data: Data } | { readonly timeout: true } | { readonly error: string };

/**
 * One Interest through NDNts (metadata, manifest nodes, exact re-fetches: a few per blob), its
 * Data verified by `verifier` when given. The wire tap leaves these replies to NDNts (see
 * WireChannel.tap), and NDNts' forwarder matches implicit digests, so a Data that is not the one
 * asked for never resolves an exact Interest.
 */
export async function fetchOnePacket(fw: Forwarder, interest: Interest, signal: AbortSignal, verifier?: Verifier, retx = 0): Promise<OnePacket> {
  try {
    return { data: await consume(interest, { fw, signal, verifier, retx }) };
  } catch (err: unknown) {
    signal.throwIfAborted();
    const message = err instanceof Error ? err.message : String(err);
    return /Interest rejected: expire/.test(message) ? { timeout: true } : { error: message };
  }
}
