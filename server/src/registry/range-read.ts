import { RangeBody } from "@ndnreg/shared/http";
import type { Dispatcher } from "undici";

export interface RangeRequest {
  readonly origin: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly signal?: AbortSignal;
  /** Called as the body arrives with how many bytes of [begin, end) are in place, from the start. */
  readonly onProgress?: (filled: number) => void;
}

/** Thrown when the registry answers anything but the bytes (the status says why). */
export class RangeStatusError extends Error {
  constructor(readonly statusCode: number, message: string, readonly location?: string) {
    super(message);
  }
}

/**
 * GET bytes [begin, end) of a resource straight into `into` through undici's handler callbacks,
 * without a body stream: the copy from the registry is the server's largest cost per byte
 * (docs/performance.md). A server that ignores Range (200) is skipped forward to `begin`.
 */
export function readRangeInto(dispatcher: Dispatcher, req: RangeRequest, begin: number, end: number, into: Uint8Array): Promise<void> {
  const range = into.subarray(0, end - begin);
  return new Promise<void>((resolve, reject) => {
    let body = new RangeBody(range, begin, false);
    let status = 0;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) {
        return;
      }
      settled = true;
      req.signal?.removeEventListener("abort", onAbort);
      if (err) {
        reject(err);
      } else {
        resolve();
      }
    };
    let controller: Dispatcher.DispatchController | undefined;
    const onAbort = () => {
      const reason = req.signal?.reason instanceof Error ? req.signal.reason : new Error("range read aborted");
      controller?.abort(reason);
      finish(reason);
    };
    req.signal?.addEventListener("abort", onAbort, { once: true });
    if (req.signal?.aborted) {
      onAbort();
      return;
    }
    dispatcher.dispatch({
      origin: req.origin, path: req.path, method: "GET",
      headers: { ...req.headers, range: `bytes=${begin}-${end - 1}` },
    }, {
      onRequestStart(c) {
        controller = c;
      },
      onResponseStart(c, statusCode, headers) {
        status = statusCode;
        if (statusCode === 200) {
          body = new RangeBody(range, begin, true);
        } else if (statusCode !== 206) {
          const location = headers["location"];
          c.abort(new RangeStatusError(statusCode, `registry answered ${statusCode}`, typeof location === "string" ? location : location?.[0]));
        }
      },
      onResponseData(c, chunk) {
        if (body.push(chunk)) {
          req.onProgress?.(body.filled);
        }
        if (body.complete && status === 200) {
          c.abort(new Error("rest of an unranged body not needed")); // settle below first
          finish();
        }
      },
      onResponseEnd() {
        finish(body.complete ? undefined : new Error(`short body (${body.filled} of ${end - begin} bytes)`));
      },
      onResponseError(_c, err) {
        finish(err);
      },
    });
  });
}
