export * from "./listen-address.js";
export * from "./redirects.js";
export * from "./www-authenticate.js";
