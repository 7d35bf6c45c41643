// How settings' text becomes values: each parser throws an Error saying what it expected (the
// loader prefixes where the text came from).
import { Name } from "@ndn/packet";

export function text(t: string): string {
  return t;
}

/** Empty text: undefined (the setting is off or not used). */
export function optional<T>(parse: (t: string) => T): (t: string) => T | undefined {
  return (t) => (t === "" ? undefined : parse(t));
}

export function integer(min: number, max: number): (t: string) => number {
  return (t) => {
    const v = Number(t);
    if (t.trim() === "" || !Number.isInteger(v) || v < min || v > max) {
      throw new Error(`expected an integer in [${min}, ${max}]`);
    }
    return v;
  };
}

/** A positive number of milliseconds. */
export function milliseconds(t: string): number {
  const v = Number(t);
  if (t.trim() === "" || !Number.isFinite(v) || v <= 0) {
    throw new Error("expected a positive number of milliseconds");
  }
  return v;
}

export function oneOf<const C extends string>(...choices: readonly C[]): (t: string) => C {
  return (t) => {
    if (!(choices as readonly string[]).includes(t)) {
      throw new Error(`expected one of ${choices.join(", ")}`);
    }
    return t as C;
  };
}

export function httpUrl(t: string): URL {
  let url: URL;
  try {
    url = new URL(t);
  } catch {
    throw new Error("expected an http(s) URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error("must be an http(s) URL");
  }
  return url;
}

export function ndnName(t: string): Name {
  if (!t.startsWith("/")) {
    throw new Error("expected an NDN name (/example/registry)");
  }
  return new Name(t);
}
