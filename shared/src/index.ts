// The package root: logging. NDN code is under "@ndnreg/shared/ndn", HTTP helpers under
// "@ndnreg/shared/http"; process entries import "@ndnreg/shared/polyfill" first.
export * from "./log.js";
