import "@ndnreg/shared/polyfill";
import { consume } from "@ndn/endpoint";
import { Forwarder as NdnForwarder, type FwFace } from "@ndn/fw";
import { UnixTransport } from "@ndn/node-transport";
import { type Data, Interest, type Name } from "@ndn/packet";

/** How the Interests a consumer sent were answered. */
export interface ConsumerTally {
  data: number;
  /** Payload bytes of Data that were not Nacks. */
  dataBytes: number;
  /** Data of ContentType Nack (3), by reason text. */
  nacks: Map<string, number>;
  /** No Data before the Interest lifetime ran out (dropped, or a network Nack). */
  unanswered: number;
}

/**
 * A consumer with a face of its own on a forwarder, as anyone on the NDN network could have:
 * NDNts' encoder and decoder, no credentials, one Interest per call (no retransmission).
 */
export class NdnConsumer {
  readonly tally: ConsumerTally = { data: 0, dataBytes: 0, nacks: new Map(), unanswered: 0 };

  private constructor(private readonly fw: NdnForwarder, private readonly face: FwFace) {}

  static async connect(socketPath: string, prefix: Name): Promise<NdnConsumer> {
    const fw = NdnForwarder.create();
    const face = await UnixTransport.createFace({ fw, addRoutes: [prefix] }, socketPath);
    return new NdnConsumer(fw, face);
  }

  /**
   * One Interest (MustBeFresh, as the client sends them); undefined when nothing answered in time.
   * Given up a second after its lifetime whatever NDNts does: in floods of Interests one in about
   * a thousand consume() calls never settled, even when aborted.
   */
  async express(name: Name, lifetimeMs = 2000): Promise<Data | undefined> {
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        abort.abort();
        resolve(undefined);
      }, lifetimeMs + 1000);
    });
    const answer = consume(new Interest(name, Interest.Lifetime(lifetimeMs), Interest.MustBeFresh), { fw: this.fw, retx: 0, signal: abort.signal })
      .then((data) => data, () => undefined);
    const data = await Promise.race([answer, gaveUp]);
    clearTimeout(timer);
    if (!data) {
      ++this.tally.unanswered;
    } else if (data.contentType === 3) {
      const reason = new TextDecoder().decode(data.content);
      this.tally.nacks.set(reason, (this.tally.nacks.get(reason) ?? 0) + 1);
    } else {
      ++this.tally.data;
      this.tally.dataBytes += data.content.length;
    }
    return data;
  }

  close(): void {
    this.face.close();
  }
}
