/**
 * WWW-Authenticate challenges (RFC 9110 section 11.6.1), as registries send them:
 * `Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"`.
 * Pure and total: malformed input yields fewer challenges, never an exception.
 */
export interface AuthChallenge {
  /** Lower-case auth scheme, e.g. "bearer", "basic". */
  readonly scheme: string;
  /** Parameters by lower-case name; the first occurrence of a name wins. */
  readonly params: Readonly<Record<string, string>>;
}

/** The Bearer challenge a registry's token flow needs: realm (token endpoint), service, scope. */
export interface BearerChallenge {
  readonly realm: string;
  readonly service?: string;
  readonly scope?: string;
  /** e.g. "invalid_token", "insufficient_scope" (RFC 6750). */
  readonly error?: string;
}

// RFC 9110 tchar.
const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos] ?? "";
  }

  skipSpaces(): void {
    while (this.peek() === " " || this.peek() === "\t") {
      ++this.pos;
    }
  }

  token(): string {
    const start = this.pos;
    while (!this.done && TCHAR.test(this.peek())) {
      ++this.pos;
    }
    return this.text.slice(start, this.pos);
  }

  /** An unquoted value: RFC 9110 wants a token, but some servers send bare URLs; up to "," or space. */
  bareValue(): string {
    const start = this.pos;
    while (!this.done && !/[,\s]/.test(this.peek())) {
      ++this.pos;
    }
    return this.text.slice(start, this.pos);
  }

  /** A quoted-string after its opening quote; backslash escapes the next character. */
  quoted(): string {
    let out = "";
    while (!this.done) {
      const c = this.text[this.pos++]!;
      if (c === "\"") {
        return out;
      }
      out += c === "\\" && !this.done ? this.text[this.pos++]! : c;
    }
    return out; // unterminated: keep what was there
  }

  /** Skip to just after the next comma (or the end): recovery from garbage. */
  skipItem(): void {
    while (!this.done && this.text[this.pos++] !== ",") {
      // skip
    }
  }
}

/** Every challenge in one or more WWW-Authenticate header values. */
export function parseWwwAuthenticate(header: string | readonly string[] | undefined): AuthChallenge[] {
  if (header === undefined) {
    return [];
  }
  const s = new Scanner(typeof header === "string" ? header : header.join(", "));
  const out: AuthChallenge[] = [];
  while (!s.done) {
    s.skipSpaces();
    if (s.peek() === ",") {
      ++s.pos;
      continue;
    }
    const scheme = s.token();
    if (!scheme) {
      s.skipItem();
      continue;
    }
    const params: Record<string, string> = {};
    out.push({ scheme: scheme.toLowerCase(), params });
    parseParams(s, params);
  }
  return out;
}

/**
 * auth-params after a scheme, up to (not including) the next challenge's scheme: a token that is
 * not followed by "=". A token68 (unused by registries) parses as a parameter or a bare scheme.
 */
function parseParams(s: Scanner, params: Record<string, string>): void {
  for (;;) {
    s.skipSpaces();
    if (s.done) {
      return;
    }
    if (s.peek() === ",") {
      ++s.pos;
      continue;
    }
    const start = s.pos;
    const name = s.token();
    if (!name) {
      s.skipItem(); // garbage
      continue;
    }
    s.skipSpaces();
    if (s.peek() !== "=") {
      s.pos = start; // the next challenge
      return;
    }
    ++s.pos;
    s.skipSpaces();
    let value: string;
    if (s.peek() === "\"") {
      ++s.pos;
      value = s.quoted();
    } else {
      value = s.bareValue();
    }
    const key = name.toLowerCase();
    if (!(key in params)) {
      params[key] = value;
    }
    s.skipSpaces();
    if (!s.done && s.peek() !== ",") {
      s.skipItem(); // garbage after a value
    }
  }
}

/** The first Bearer challenge with a realm, if any. */
export function findBearerChallenge(challenges: readonly AuthChallenge[]): BearerChallenge | undefined {
  for (const c of challenges) {
    const realm = c.params["realm"];
    if (c.scheme === "bearer" && realm) {
      return { realm, service: c.params["service"], scope: c.params["scope"], error: c.params["error"] };
    }
  }
  return undefined;
}
