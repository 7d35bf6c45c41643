export * from "./redirects.js";
export * from "./www-authenticate.js";
