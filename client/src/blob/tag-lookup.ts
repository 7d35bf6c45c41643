import type { Forwarder } from "@ndn/fw";
import { Interest, type Data, type Name, type Verifier } from "@ndn/packet";
import { ContentType, openStoredTagData, readTagRecord, storedTagName, type TagId, tagName, type TagRecord } from "@ndnreg/shared/ndn";

import { fetchOnePacket } from "../ndn/one-packet.js";
import type { TagStore } from "../store/tag-store.js";

/** A tag record (as the server signed it) checked against the trust anchor, and where it came from. */
export interface CheckedTagRecord {
  readonly data: Data;
  readonly record: TagRecord;
  readonly from: "server" | "store" | "neighbour";
}

/** Why no record could be had: `answered`, a producer said the tag is not known (Nack); else no usable answer came. */
export interface TagRefusal {
  readonly refused: string;
  readonly answered: boolean;
}

const ATTEMPTS = 2;
const utf8 = new TextDecoder();

/**
 * Tag records (docs/protocol.md, "Tag records"), each checked against the trust anchor: name,
 * content and the server's signature. Interests carry CanBePrefix and MustBeFresh (caches keep a
 * record a second); a record that does not check out is dropped and asked for once more
 * (another copy may come from elsewhere).
 */
export class TagRecordLookup {
  constructor(
    private readonly fw: Forwarder,
    private readonly prefix: Name,
    private readonly verifier: Verifier,
    private readonly lifetimeMs: number,
    private readonly store?: TagStore,
  ) {}

  /** The server's record now: `/<prefix>/<repository>/32=tag/<tag>`, which only the server answers. */
  fetch(id: TagId, signal: AbortSignal): Promise<CheckedTagRecord | TagRefusal> {
    return this.ask(id, tagName(this.prefix, id), "server", signal);
  }

  /**
   * The newest record the site holds (the upstream unreachable): the client's own store's, else
   * a neighbour's copy over NDN (`32=stored-tag`).
   */
  async resolve(id: TagId, signal: AbortSignal): Promise<CheckedTagRecord | TagRefusal> {
    const stored = this.store?.get(id);
    const record = stored && await this.check(id, stored);
    if (stored && typeof record === "object") {
      return { data: stored, record, from: "store" };
    }
    return this.ask(id, storedTagName(this.prefix, id), "neighbour", signal);
  }

  private async ask(id: TagId, name: Name, from: "server" | "neighbour", signal: AbortSignal): Promise<CheckedTagRecord | TagRefusal> {
    let last = "no answer";
    for (let attempt = 0; attempt < ATTEMPTS; ++attempt) {
      const interest = new Interest(name, Interest.CanBePrefix, Interest.MustBeFresh, Interest.Lifetime(this.lifetimeMs));
      const got = await fetchOnePacket(this.fw, interest, signal);
      if ("timeout" in got) {
        continue;
      }
      if ("error" in got) {
        last = got.error; // a network Nack (no route)
        continue;
      }
      if (got.data.contentType === ContentType.Nack) {
        return { refused: `tag record: ${utf8.decode(got.data.content).slice(0, 200)}`, answered: true };
      }
      const data = from === "neighbour" ? openStoredTagData(got.data) : got.data;
      const record = typeof data === "string" ? data : await this.check(id, data);
      if (typeof data === "object" && typeof record === "object") {
        return { data, record, from };
      }
      last = typeof record === "string" ? record : "unusable answer";
    }
    return { refused: `tag record of ${id.repository}:${id.tag}: ${last}`, answered: false };
  }

  /** The record `data` carries for `id` if the server signed it, or why not. */
  private async check(id: TagId, data: Data): Promise<TagRecord | string> {
    try {
      await this.verifier.verify(data);
    } catch (err: unknown) {
      return `record refused: not signed by the trust anchor's key (${err instanceof Error ? err.message : String(err)})`;
    }
    return readTagRecord(this.prefix, id, data);
  }
}
