// One configuration scheme for both processes: a table of settings per process gives the flags,
// the NDNREG_* variables, defaults, --help and validation.
export * from "./common.js";
export * from "./package-version.js";
export * from "./settings.js";
export * from "./values.js";
