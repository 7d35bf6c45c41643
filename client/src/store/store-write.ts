import { type FileHandle, open, rm } from "node:fs/promises";

import type { Logger } from "@ndnreg/shared";
import type { BlobId } from "@ndnreg/shared/ndn";

import type { PacketSource } from "./blob-store.js";
import { tmpPath } from "./durable.js";
import type { StoredPackets } from "./packet-file.js";

/**
 * Bytes copied but not yet on disk: beyond this the disk is slower than the network and the
 * write is given up (the response never waits for the store).
 */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

/**
 * Bytes gathered before one write: a write per delivery batch (a few segments) cost the pulling
 * client more main-thread time than hashing the blob.
 */
const WRITE_CHUNK = 1024 * 1024;

interface StoreHooks {
  readonly install: (tmpBlob: string, packets: StoredPackets) => Promise<void>;
  /** The write ended, installed or not. */
  readonly done: () => void;
  readonly log: Logger;
}

/**
 * A tee of one blob's delivery over NDN into the store: payloads are copied as they reach the
 * response, gathered into 1 MB chunks and appended to a file under tmp/. commit() is called only once the bytes were
 * verified (whole-blob hash, or every segment against the signed manifest) and all came over NDN;
 * it flushes the file, fetches the signed packets, and lets the store rename both into place.
 * Anything else (bytes not from byte 0 or with a gap, a slow disk, an error, abort()) removes the
 * file, so a blob in the store is whole and verified.
 */
export class StoreWrite {
  private readonly file: string;
  private fh?: Promise<FileHandle>;
  private chain: Promise<unknown> = Promise.resolve();
  private received = 0;
  /** Bytes copied but not yet written (gathered, or queued for the disk). */
  private queued = 0;
  /** The chunk being gathered, and the bytes put into chunks so far. */
  private chunk?: Buffer;
  private chunkLength = 0;
  private staged = 0;
  private state: "open" | "committing" | "ended" = "open";
  private failure?: string;

  constructor(
    tmpDir: string,
    private readonly id: BlobId,
    private readonly size: number,
    private readonly packets: PacketSource,
    private readonly hooks: StoreHooks,
  ) {
    this.file = tmpPath(tmpDir);
  }

  /**
   * The next bytes of a delivery that started at byte `start` (FetchBatch.offset); each piece is
   * copied before this returns. Only deliveries from byte 0 are stored.
   */
  take(start: number, payloads: readonly Uint8Array[]): void {
    if (this.state !== "open" || this.failure !== undefined) {
      return;
    }
    if (start !== 0) {
      this.fail(`delivery starts at byte ${start}`);
      return;
    }
    const length = payloads.reduce((n, p) => n + p.length, 0);
    this.received += length;
    this.queued += length;
    if (this.received > this.size) {
      this.fail(`more than ${this.size} bytes`);
      return;
    }
    if (this.queued > MAX_QUEUED_BYTES) {
      this.fail("disk slower than the network");
      return;
    }
    for (const p of payloads) {
      this.stage(p);
    }
  }

  /** Copies `bytes` into the chunk being gathered, writing each chunk once it is full. */
  private stage(bytes: Uint8Array): void {
    for (let off = 0; off < bytes.length;) {
      // A chunk never runs past the blob's end (received <= size), so the last one fills exactly.
      const chunk = this.chunk ??= Buffer.allocUnsafe(Math.min(WRITE_CHUNK, this.size - this.staged));
      const n = Math.min(chunk.length - this.chunkLength, bytes.length - off);
      chunk.set(bytes.subarray(off, off + n), this.chunkLength);
      this.chunkLength += n;
      this.staged += n;
      off += n;
      if (this.chunkLength === chunk.length) {
        this.writeChunk();
      }
    }
  }

  /** Queues the gathered bytes for the disk, in order. */
  private writeChunk(): void {
    if (!this.chunk || this.chunkLength === 0) {
      return;
    }
    const bytes = this.chunk.subarray(0, this.chunkLength);
    this.chunk = undefined;
    this.chunkLength = 0;
    this.fh ??= open(this.file, "wx");
    const fh = this.fh;
    this.chain = this.chain.then(async () => {
      if (this.failure === undefined) {
        await (await fh).write(bytes);
      }
      this.queued -= bytes.length;
    }).catch((err: unknown) => this.fail(String(err)));
  }

  /**
   * The bytes taken were the whole blob and verified: flush them, fetch the packets, install.
   * Resolves true when the blob is in the store.
   */
  async commit(signal: AbortSignal): Promise<boolean> {
    if (this.state !== "open") {
      return false;
    }
    this.state = "committing";
    try {
      if (this.received !== this.size) {
        this.fail(`${this.received} of ${this.size} bytes`);
      }
      this.writeChunk();
      this.fh ??= open(this.file, "wx"); // a zero-byte blob
      await this.chain;
      if (this.failure !== undefined) {
        return false;
      }
      const fh = await this.fh;
      await fh.sync();
      await fh.close();
      this.fh = undefined;
      const packets = await this.packets(this.id, this.size, signal);
      await this.hooks.install(this.file, packets);
      this.hooks.log.info({ repository: this.id.repository, digest: this.id.digest.text, bytes: this.size }, "store: blob stored");
      return true;
    } catch (err: unknown) {
      this.fail(String(err));
      return false;
    } finally {
      await this.end();
    }
  }

  /** Gives the write up (the delivery failed or fell back to HTTP); no-op once committing. */
  abort(): void {
    if (this.state === "open") {
      this.state = "committing";
      this.failure ??= "aborted";
      void this.end();
    }
  }

  private fail(why: string): void {
    if (this.failure === undefined) {
      this.failure = why;
      if (why !== "aborted") {
        this.hooks.log.info({ repository: this.id.repository, digest: this.id.digest.text, why }, "store: blob not stored");
      }
    }
  }

  /** Closes and removes the tmp file (gone already once installed). */
  private async end(): Promise<void> {
    if (this.state === "ended") {
      return;
    }
    this.state = "ended";
    this.chunk = undefined;
    await this.chain.catch(() => undefined);
    const fh = this.fh;
    this.fh = undefined;
    await fh?.then((h) => h.close()).catch(() => undefined);
    await rm(this.file, { force: true }).catch(() => undefined);
    this.hooks.done();
  }
}
