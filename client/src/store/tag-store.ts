import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import path from "node:path";

import { Data, type Name } from "@ndn/packet";
import { Decoder, Encoder } from "@ndn/tlv";

import type { Logger } from "@ndnreg/shared";
import { parseRegistryName, readTagRecord, type TagId, tagKey } from "@ndnreg/shared/ndn";

import { writeFileDurably } from "./durable.js";

/** Tag records kept: each is a route on the forwarder (and about 300 bytes on disk). */
const MAX_TAG_RECORDS = 1000;

interface Held {
  readonly id: TagId;
  readonly wire: Uint8Array;
  readonly madeAt: number;
  readonly file: string;
}

/** A tag record added or replaced (true), or dropped (false). */
export type TagStoreListener = (id: TagId, present: boolean) => void;

/**
 * The server-signed tag records of the edge store (docs/protocol.md, "Tag records"), one per tag,
 * the newest version only: `tags/<sha256 of repository:tag>` under the store's directory, each
 * file a record's Data, written whole (see writeFileDurably). Records are checked against the
 * trust anchor before they are put here and again when they are used; opening the store only
 * checks that each file is a record of this prefix. Beyond MAX_TAG_RECORDS the oldest are dropped.
 */
export class TagStore {
  /** Map order is the order records were put: the first is dropped first. */
  private readonly held = new Map<string, Held>();
  private readonly listeners: TagStoreListener[] = [];

  private constructor(private readonly dir: string, private readonly tmpDir: string, private readonly prefix: Name, private readonly log: Logger) {}

  /** Opens `<storeDir>/tags` (after BlobStore.open, which empties `<storeDir>/tmp`). */
  static async open(storeDir: string, prefix: Name, log: Logger): Promise<TagStore> {
    const store = new TagStore(path.join(storeDir, "tags"), path.join(storeDir, "tmp"), prefix, log);
    await mkdir(store.dir, { recursive: true });
    const found: Held[] = [];
    for (const name of await readdir(store.dir)) {
      const file = path.join(store.dir, name);
      const held = await readFile(file).then((wire) => store.parse(wire, file)).catch(() => undefined);
      if (held) {
        found.push(held);
      } else {
        await rm(file, { recursive: true, force: true });
      }
    }
    for (const h of found.sort((a, b) => a.madeAt - b.madeAt)) {
      const old = store.held.get(tagKey(h.id));
      if (old) {
        await rm(old.file, { force: true }); // two files for one tag: the newer one stays
      }
      store.held.delete(tagKey(h.id));
      store.held.set(tagKey(h.id), h);
    }
    await store.trim();
    log.info({ dir: store.dir, records: store.held.size }, "store: tag records opened");
    return store;
  }

  get size(): number {
    return this.held.size;
  }

  ids(): TagId[] {
    return [...this.held.values()].map((h) => h.id);
  }

  /** The record's Data (as put, unchecked), if one is held. */
  get(id: TagId): Data | undefined {
    const h = this.held.get(tagKey(id));
    return h && new Decoder(h.wire).decode(Data);
  }

  /** When the held record was made, if there is one. */
  madeAt(id: TagId): number | undefined {
    return this.held.get(tagKey(id))?.madeAt;
  }

  /** The held record's bytes (as put, unchecked) and when it was made. */
  wire(id: TagId): { readonly wire: Uint8Array; readonly madeAt: number } | undefined {
    return this.held.get(tagKey(id));
  }

  /** Keeps `data` (a record of `id`, checked by the caller) unless a record as new is held; true when kept. */
  async put(id: TagId, data: Data): Promise<boolean> {
    const wire = Encoder.encode(data);
    const file = path.join(this.dir, createHash("sha256").update(tagKey(id)).digest("hex"));
    const h = this.parse(wire, file);
    const old = this.held.get(tagKey(id));
    if (!h || h.id.repository !== id.repository || h.id.tag !== id.tag || (old && old.madeAt >= h.madeAt)) {
      return false;
    }
    await writeFileDurably(this.tmpDir, file, wire);
    if (old && old.file !== file) {
      await rm(old.file, { force: true });
    }
    this.held.delete(tagKey(id));
    this.held.set(tagKey(id), h);
    await this.trim();
    this.notify(id, true);
    return true;
  }

  listen(listener: TagStoreListener): void {
    this.listeners.push(listener);
  }

  private async trim(): Promise<void> {
    for (const [key, h] of this.held) {
      if (this.held.size <= MAX_TAG_RECORDS) {
        break;
      }
      this.held.delete(key);
      await rm(h.file, { force: true });
      this.notify(h.id, false);
    }
  }

  private notify(id: TagId, present: boolean): void {
    for (const l of this.listeners) {
      l(id, present);
    }
  }

  /** A record of this prefix, or undefined. */
  private parse(wire: Uint8Array, file: string): Held | undefined {
    try {
      const data = new Decoder(wire).decode(Data);
      const parsed = parseRegistryName(this.prefix, data.name.getPrefix(-1));
      if (!parsed.ok || parsed.kind !== "tag") {
        return undefined;
      }
      const record = readTagRecord(this.prefix, parsed.id, data);
      return typeof record === "string" ? undefined : { id: parsed.id, wire, madeAt: record.madeAt, file };
    } catch (err: unknown) {
      this.log.debug({ file, err: String(err) }, "store: not a tag record");
      return undefined;
    }
  }
}
