import { mkdir, readdir, readFile, rename, rm, stat, utimes } from "node:fs/promises";
import path from "node:path";

import type { Name } from "@ndn/packet";

import type { Logger } from "@ndnreg/shared";
import type { BlobId } from "@ndnreg/shared/ndn";

import { fsyncDir, writeFileDurably } from "./durable.js";
import { type DecodedPackets, decodePacketFile, encodePacketFile, type StoredPackets } from "./packet-file.js";
import { StoreWrite } from "./store-write.js";

/** The signed packets of a blob just verified, from NDN (see StorePackets); throws if they cannot be had. */
export type PacketSource = (id: BlobId, size: number, signal: AbortSignal) => Promise<StoredPackets>;

interface Entry {
  readonly blobBytes: number;
  readonly packetBytes: number;
  /** The metadata's discovery name: `/<prefix>/<repository>/<digest>/32=metadata`. */
  readonly discoveryName: Name;
}

/** A blob added to (true) or dropped from (false) the store. */
export type StoreListener = (hex: string, present: boolean) => void;

const HEX_RE = /^[0-9a-f]{64}$/;

/**
 * The edge store: verified blobs on disk under a byte budget (docs/operations.md, "Running a
 * site"). Layout under `dir`: `blobs/sha256/<hex>` (the bytes), `packets/sha256/<hex>` (the
 * signed packets to serve them with), `tmp/` (writes in progress). A file under blobs/ or
 * packets/ is whole by construction (written under tmp/, fsynced, renamed), and a blob counts only
 * with its packets, which are renamed into place first; so a crash leaves at worst files in tmp/
 * and packets without a blob, both removed at the next start. The least recently used blobs are
 * evicted beyond the budget (blob bytes plus packet bytes); the order survives restarts as the
 * files' mtimes.
 */
export class BlobStore {
  /** Map order is use order: the first entry is the least recently used. */
  private readonly index = new Map<string, Entry>();
  private readonly writing = new Set<string>();
  private readonly listeners: StoreListener[] = [];
  private evicted = 0;
  private used = 0;
  /**
   * The blob touched last, while no add or remove has happened since: it is still the index's last
   * entry with the newest mtime, so touching it again (every segment a neighbour asks for) changes
   * neither order and is skipped.
   */
  private lastTouched?: string;
  readonly blobDir: string;
  readonly packetDir: string;
  readonly tmpDir: string;

  private constructor(readonly dir: string, readonly budget: number, private readonly log: Logger, private readonly packets: PacketSource) {
    this.blobDir = path.join(dir, "blobs", "sha256");
    this.packetDir = path.join(dir, "packets", "sha256");
    this.tmpDir = path.join(dir, "tmp");
  }

  /**
   * Opens (or creates) the store at `dir`: tmp/ emptied, the index rebuilt by listing (a blob's
   * bytes are not hashed; its packet file's checksum, its size against the metadata's and its
   * node count are checked), blobs without good packets and packets without a blob removed.
   */
  static async open(dir: string, budget: number, log: Logger, packets: PacketSource): Promise<BlobStore> {
    const store = new BlobStore(dir, budget, log, packets);
    await store.repair();
    return store;
  }

  /** Bytes held: blobs and their packet files. */
  get usedBytes(): number {
    return this.used;
  }

  get blobCount(): number {
    return this.index.size;
  }

  /** Digests held, least recently used first. */
  digests(): string[] {
    return [...this.index.keys()];
  }

  has(hex: string): boolean {
    return this.index.has(hex);
  }

  /** The blob's size, and the discovery name its stored metadata answers; undefined when not held. */
  info(hex: string): { readonly size: number; readonly discoveryName: Name } | undefined {
    const e = this.index.get(hex);
    return e && { size: e.blobBytes, discoveryName: e.discoveryName };
  }

  blobPath(hex: string): string {
    return path.join(this.blobDir, hex);
  }

  /** Called with every blob added or dropped from now on. */
  /** Blobs evicted beyond the budget since the store was opened. */
  get evictions(): number {
    return this.evicted;
  }

  listen(listener: StoreListener): void {
    this.listeners.push(listener);
  }

  /** Marks `hex` most recently used (also on disk, for the next start). */
  touch(hex: string): void {
    const e = this.index.get(hex);
    if (!e || hex === this.lastTouched) {
      return;
    }
    this.lastTouched = hex;
    this.index.delete(hex);
    this.index.set(hex, e);
    const now = new Date();
    void utimes(this.blobPath(hex), now, now).catch(() => undefined);
  }

  /** The stored packets of `hex`; undefined (and the blob dropped) when its packet file is bad. */
  async readPackets(hex: string): Promise<DecodedPackets | undefined> {
    const e = this.index.get(hex);
    if (!e) {
      return undefined;
    }
    try {
      return decodePacketFile(await readFile(path.join(this.packetDir, hex)), e.blobBytes);
    } catch (err: unknown) {
      this.log.warn({ digest: `sha256:${hex}`, err: String(err) }, "store: bad packet file, blob dropped");
      this.remove(hex);
      return undefined;
    }
  }

  /**
   * A writer for a blob being delivered (see StoreWrite), or undefined when the blob is held,
   * being written, or larger than the whole budget.
   */
  writer(id: BlobId, size: number): StoreWrite | undefined {
    const hex = id.digest.hex;
    if (this.index.has(hex) || this.writing.has(hex) || size > this.budget) {
      return undefined;
    }
    this.writing.add(hex);
    return new StoreWrite(this.tmpDir, id, size, this.packets, {
      install: (tmpBlob, packets) => this.install(hex, size, tmpBlob, packets),
      done: () => this.writing.delete(hex),
      log: this.log,
    });
  }

  /** Drops a blob (evicted, or found bad): out of the index at once, its files unlinked (readers keep theirs open). */
  remove(hex: string): void {
    const e = this.index.get(hex);
    if (!e) {
      return;
    }
    this.index.delete(hex);
    this.lastTouched = undefined;
    this.used -= e.blobBytes + e.packetBytes;
    this.notify(hex, false);
    void this.unlink(hex).catch((err: unknown) => this.log.warn({ digest: `sha256:${hex}`, err: String(err) }, "store: unlink failed"));
  }

  private async unlink(hex: string): Promise<void> {
    await rm(this.blobPath(hex), { force: true }); // the blob first: packets without a blob are dropped at start
    await rm(path.join(this.packetDir, hex), { force: true });
  }

  /** Packets into place first, then the blob: a blob under blobs/ always has its packets. */
  private async install(hex: string, size: number, tmpBlob: string, packets: StoredPackets): Promise<void> {
    const file = encodePacketFile(packets);
    if (size + file.length > this.budget) {
      throw new Error(`blob and packets (${size + file.length} bytes) exceed the store's budget`);
    }
    const { discoveryName } = decodePacketFile(file, size);
    await writeFileDurably(this.tmpDir, path.join(this.packetDir, hex), file);
    await rename(tmpBlob, this.blobPath(hex));
    await fsyncDir(this.blobDir);
    this.add(hex, { blobBytes: size, packetBytes: file.length, discoveryName });
    this.notify(hex, true);
  }

  private add(hex: string, e: Entry): void {
    this.index.set(hex, e);
    this.lastTouched = undefined;
    this.used += e.blobBytes + e.packetBytes;
    this.evict();
  }

  /** Least recently used first, never the blob just added (the last entry). */
  private evict(): void {
    while (this.used > this.budget && this.index.size > 1) {
      const oldest = this.index.keys().next().value!;
      ++this.evicted;
      this.log.info({ digest: `sha256:${oldest}`, usedBytes: this.used, budget: this.budget }, "store: evicted");
      this.remove(oldest);
    }
  }

  private notify(hex: string, present: boolean): void {
    for (const l of this.listeners) {
      l(hex, present);
    }
  }

  private async repair(): Promise<void> {
    await rm(this.tmpDir, { recursive: true, force: true });
    await mkdir(this.tmpDir, { recursive: true });
    await mkdir(this.blobDir, { recursive: true });
    await mkdir(this.packetDir, { recursive: true });
    const found: Array<{ hex: string; mtimeMs: number; entry: Entry }> = [];
    const blobs = new Set(await readdir(this.blobDir));
    let dropped = 0;
    for (const name of blobs) {
      const blobFile = this.blobPath(name);
      try {
        if (!HEX_RE.test(name)) {
          throw new Error("not a sha256 digest");
        }
        const st = await stat(blobFile);
        const packetFile = await readFile(path.join(this.packetDir, name));
        const { discoveryName } = decodePacketFile(packetFile, st.size);
        if (Buffer.from(discoveryName.get(-2)?.value ?? []).toString("hex") !== name) {
          throw new Error("packets of another digest");
        }
        found.push({ hex: name, mtimeMs: st.mtimeMs, entry: { blobBytes: st.size, packetBytes: packetFile.length, discoveryName } });
      } catch (err: unknown) {
        ++dropped;
        this.log.warn({ file: blobFile, err: String(err) }, "store: blob dropped at start");
        await rm(blobFile, { recursive: true, force: true });
        await rm(path.join(this.packetDir, name), { force: true });
      }
    }
    for (const name of await readdir(this.packetDir)) {
      if (!blobs.has(name)) {
        await rm(path.join(this.packetDir, name), { recursive: true, force: true });
      }
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const f of found) {
      this.add(f.hex, f.entry);
    }
    this.log.info({ dir: this.dir, blobs: this.index.size, usedBytes: this.used, budget: this.budget, dropped }, "store: opened");
  }
}
