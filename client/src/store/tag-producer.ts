import { type Producer, produce } from "@ndn/endpoint";
import type { Forwarder } from "@ndn/fw";
import { Version } from "@ndn/naming-convention2";
import type { Data, Interest, Name } from "@ndn/packet";
import { makeStoredTagData, parseRegistryName, storedTagName, type TagId } from "@ndnreg/shared/ndn";

import type { TagStore } from "./tag-store.js";

/** Interests NDNts hands to the handler at once (each is a lookup in memory). */
const CONCURRENCY = 16;

/**
 * Serves the store's tag records to neighbours over NDN, as the server signed them, inside a
 * store's copy (docs/protocol.md, "Tag records"): `/<prefix>/<repository>/32=stored-tag/<tag>`
 * is announced while a record is held (the uplink registers it, like the store's blobs) and
 * answers Interests for it (CanBePrefix) or for the copy's exact versioned name. Never the
 * record's own name: a store's route there would take the server's place, for its own host too,
 * and a tag that moved would never be seen again. A record is only served, never vouched for:
 * consumers check it against the server's certificate.
 */
export class TagRecordProducer {
  private readonly producer: Producer;
  private readonly announced = new Map<string, Name>();

  constructor(fw: Forwarder, private readonly prefix: Name, private readonly store: TagStore) {
    this.producer = produce(undefined, (interest) => this.answer(interest), { fw, concurrency: CONCURRENCY, describe: "tag-records" });
    for (const id of store.ids()) {
      this.announce(id);
    }
    store.listen((id, present) => (present ? this.announce(id) : this.withdraw(id)));
  }

  close(): void {
    this.producer.close();
  }

  private announce(id: TagId): void {
    const name = storedTagName(this.prefix, id);
    if (!this.announced.has(name.valueHex)) {
      this.producer.face.addRoute(name, true);
      this.announced.set(name.valueHex, name);
    }
  }

  private withdraw(id: TagId): void {
    const name = storedTagName(this.prefix, id);
    if (this.announced.delete(name.valueHex)) {
      this.producer.face.removeRoute(name, true);
    }
  }

  /** The copy of the held record if the Interest names its stored tag (NDNts checks that the Data satisfies the Interest). */
  private async answer(interest: Interest): Promise<Data | undefined> {
    const name = interest.name.length > 0 && interest.name.at(-1).is(Version) ? interest.name.getPrefix(-1) : interest.name;
    const parsed = parseRegistryName(this.prefix, name);
    if (!parsed.ok || parsed.kind !== "stored-tag") {
      return undefined;
    }
    const held = this.store.wire(parsed.id);
    return held && makeStoredTagData(this.prefix, parsed.id, held.madeAt, held.wire);
  }
}
