export * from "./site-rig.js";
