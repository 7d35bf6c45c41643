import { type Producer, produce } from "@ndn/endpoint";
import type { Forwarder } from "@ndn/fw";
import { Version } from "@ndn/naming-convention2";
import type { Data, Interest, Name } from "@ndn/packet";
import { parseRegistryName, type TagId, tagName } from "@ndnreg/shared/ndn";

import type { TagStore } from "./tag-store.js";

/** Interests NDNts hands to the handler at once (each is a lookup in memory). */
const CONCURRENCY = 16;

/**
 * Serves the store's tag records to neighbours over NDN, as the server signed them: each record's
 * tag name `/<prefix>/<repository>/32=tag/<tag>` is announced while it is held (the uplink
 * registers it, like the store's blobs) and answers Interests for it (CanBePrefix) or for the
 * record's exact versioned name. A record is only served, never vouched for: consumers check it
 * against the server's certificate.
 */
export class TagRecordProducer {
  private readonly producer: Producer;
  private readonly announced = new Map<string, Name>();

  constructor(fw: Forwarder, private readonly prefix: Name, private readonly store: TagStore) {
    this.producer = produce(undefined, (interest) => Promise.resolve(this.answer(interest)), { fw, concurrency: CONCURRENCY, describe: "tag-records" });
    for (const id of store.ids()) {
      this.announce(id);
    }
    store.listen((id, present) => (present ? this.announce(id) : this.withdraw(id)));
  }

  close(): void {
    this.producer.close();
  }

  private announce(id: TagId): void {
    const name = tagName(this.prefix, id);
    if (!this.announced.has(name.valueHex)) {
      this.producer.face.addRoute(name, true);
      this.announced.set(name.valueHex, name);
    }
  }

  private withdraw(id: TagId): void {
    const name = tagName(this.prefix, id);
    if (this.announced.delete(name.valueHex)) {
      this.producer.face.removeRoute(name, true);
    }
  }

  /** The held record if the Interest names its tag (NDNts checks that the Data satisfies the Interest). */
  private answer(interest: Interest): Data | undefined {
    const name = interest.name.length > 0 && interest.name.at(-1).is(Version) ? interest.name.getPrefix(-1) : interest.name;
    const parsed = parseRegistryName(this.prefix, name);
    return parsed.ok && parsed.kind === "tag" ? this.store.get(parsed.id) : undefined;
  }
}
