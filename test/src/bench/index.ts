export * from "./counting-proxy.js";
export * from "./forwarder.js";
export * from "./images.js";
export * from "./ports.js";
export * from "./process.js";
export * from "./registry.js";
export * from "./run-dir.js";
export * from "./stack.js";
