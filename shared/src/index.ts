// The package root: logging. NDN code is under "@ndnreg/shared/ndn", HTTP helpers under
// "@ndnreg/shared/http", the configuration scheme under "@ndnreg/shared/config"; process entries
// import "@ndnreg/shared/polyfill" first.
export * from "./log.js";
