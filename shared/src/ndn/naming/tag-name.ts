import { Keyword } from "@ndn/naming-convention2";
import { Component, type Name, TT } from "@ndn/packet";

/**
 * A tag of a repository, `/<prefix>/<repository>/32=tag/<tag>` (docs/protocol.md, "Tag records"):
 * the only name under the prefix that is not content-addressed, so its Data is versioned, signed
 * and fresh for a second only.
 */
export interface TagId {
  readonly repository: string;
  readonly tag: string;
}

export const TagKeyword = Keyword.create("tag");

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
  return prefix.append(
    new Component(TT.GenericNameComponent, utf8.encode(id.repository)), TagKeyword, new Component(TT.GenericNameComponent, utf8.encode(id.tag)),
  );
}

/** The key a tag is remembered by in maps and caches: `<repository>:<tag>`. */
export function tagKey(id: TagId): string {
  return `${id.repository}:${id.tag}`;
}
