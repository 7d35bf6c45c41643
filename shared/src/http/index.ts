export * from "./listen-address.js";
export * from "./ops.js";
export * from "./range-body.js";
export * from "./redirects.js";
export * from "./refuse-connect.js";
export * from "./www-authenticate.js";
