import { AltUri } from "@ndn/naming-convention2";
import type { Name } from "@ndn/packet";

/** A name as operators write it (`/ndn-registry/KEY/v=1`), not NDNts' canonical `/8=...` form. */
export function nameText(name: Name): string {
  return AltUri.ofName(name);
}
