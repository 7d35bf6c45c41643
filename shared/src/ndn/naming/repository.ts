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
