export * from "./context.js";
export * from "./second-site.js";
export * from "./shared-link.js";
export * from "./single-flow.js";
export * from "./udp-face.js";
