export * from "./frame-splitter.js";
export * from "./packets.js";
export * from "./slab-arena.js";
export * from "./tlv.js";
export * from "./wire-transport.js";
