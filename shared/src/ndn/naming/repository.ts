import { Component, TT } from "@ndn/packet";

// Repository names follow the distribution grammar: lower-case path components joined by "/",
// each starting and ending with [a-z0-9]. The grammar alone rules out "..", "%2f", empty
// components and anything that could escape /v2/<repository>/blobs/ when put in a URL.
const COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const REPOSITORY_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

/** Longest repository name distribution accepts. */
const MAX_REPOSITORY_LENGTH = 255;

export function isValidRepository(name: string): boolean {
  return name.length > 0 && name.length <= MAX_REPOSITORY_LENGTH && REPOSITORY_RE.test(name);
}

const utf8 = new TextEncoder();

/** The repository as ONE generic name component holding the full name ("org/team/app"), as the proof of concept names it. */
export function repositoryComponent(repository: string): Component {
  return new Component(TT.GenericNameComponent, utf8.encode(repository));
}
