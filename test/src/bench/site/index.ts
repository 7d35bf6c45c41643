export * from "./site-rig.js";
export * from "./site-cpu.js";
