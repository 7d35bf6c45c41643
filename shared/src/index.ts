import "./polyfill.js";

export * from "./log.js";
export * from "./naming/blob-name.js";
export * from "./naming/content-type.js";
export * from "./naming/digest.js";
export * from "./naming/name-text.js";
export * from "./naming/repository.js";
export * from "./naming/segments.js";
export * from "./registry/index.js";
export * from "./uplink/router-uri.js";
export * from "./uplink/uplink.js";
export * from "./wire/index.js";
export * from "./net/listen-address.js";
