export * from "./link-check.js";
export * from "./shaper.js";
export * from "./topology.js";
export * from "./toxiproxy.js";
export * from "./udp-delay-relay.js";
export * from "./wan-link.js";
export * from "./cases/index.js";
export * from "./wan-rig.js";
