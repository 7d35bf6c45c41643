import { Keyword } from "@ndn/naming-convention2";
import { Component, type Name, TT } from "@ndn/packet";

import { repositoryComponent } from "./repository.js";

/**
 * A tag of a repository, `/<prefix>/<repository>/32=tag/<tag>` (docs/protocol.md, "Tag records"):
 * the only name under the prefix that is not content-addressed, so its Data is versioned, signed
 * and fresh for a second only, and answered by the server alone. Stores answer
 * `/<prefix>/<repository>/32=stored-tag/<tag>` with the record they hold: under the record's own
 * name their routes would shadow the server's, and a tag that moved would never be seen again.
 */
export interface TagId {
  readonly repository: string;
  readonly tag: string;
}

export const TagKeyword = Keyword.create("tag");
export const StoredTagKeyword = Keyword.create("stored-tag");

/** FreshnessPeriod of tag records: a tag moves, so caches keep them a second at most. */
export const TAG_RECORD_FRESHNESS_MS = 1000;

/** The distribution spec's tag grammar (ASCII only, so a tag is its own UTF-8). */
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

const utf8 = new TextEncoder();

/** `/<prefix>/<repository>/32=tag/<tag>`: the Interest's name (its Data's name adds `v=T`). */
export function tagName(prefix: Name, id: TagId): Name {
  return prefix.append(repositoryComponent(id.repository), TagKeyword, new Component(TT.GenericNameComponent, utf8.encode(id.tag)));
}

/** `/<prefix>/<repository>/32=stored-tag/<tag>`: a store's copy of the tag's record (its Data adds `v=T`). */
export function storedTagName(prefix: Name, id: TagId): Name {
  return tagName(prefix, id).replaceAt(-2, StoredTagKeyword);
}

/** The key a tag is remembered by in maps and caches: `<repository>:<tag>`. */
export function tagKey(id: TagId): string {
  return `${id.repository}:${id.tag}`;
}
