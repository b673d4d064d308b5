// A function's name, like a DNS label (it appears in URLs, /run/NAME, and host
// names); the manifest's schema says the same, for people. In a module of its
// own so that what reads the server's settings at startup loads nothing else.
export const FUNCTION_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
