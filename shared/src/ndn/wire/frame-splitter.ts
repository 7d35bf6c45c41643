import { readTlvHeader } from "./tlv.js";

/** NFD's limit is 8800; anything far larger on a stream means the peer is not speaking NDN-TLV. */
const MAX_FRAME = 1 << 20;

export class FrameTooLargeError extends Error {}

/**
 * Splits a byte stream into top-level TLV elements. Frames inside a chunk are returned as views
 * (no copy); only a frame spanning two chunks is copied, and only its own bytes.
 */
export class FrameSplitter {
  private leftover: Uint8Array | undefined;

  /** Calls `onFrame` for every complete frame; throws FrameTooLargeError on a nonsense length. */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): void {
    let buf = chunk;
    if (this.leftover) {
      const head = readTlvHeader(this.leftover, 0);
      if (head && head.end <= MAX_FRAME && head.end - this.leftover.length <= chunk.length) {
        const need = head.end - this.leftover.length;
        const frame = new Uint8Array(head.end);
        frame.set(this.leftover);
        frame.set(chunk.subarray(0, need), this.leftover.length);
        this.leftover = undefined;
        onFrame(frame);
        buf = chunk.subarray(need);
      } else {
        buf = Buffer.concat([this.leftover, chunk]);
        this.leftover = undefined;
      }
    }
    let off = 0;
    while (off < buf.length) {
      const e = readTlvHeader(buf, off);
      if (e && e.end - off > MAX_FRAME) {
        throw new FrameTooLargeError(`TLV of ${e.end - off} bytes on the stream`);
      }
      if (!e || e.end > buf.length) {
        break;
      }
      onFrame(buf.subarray(off, e.end));
      off = e.end;
    }
    if (off < buf.length) {
      this.leftover = new Uint8Array(buf.subarray(off)); // a copy, so the chunk is not kept alive
    }
  }
}
