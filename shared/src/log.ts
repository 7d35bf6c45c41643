import { pino, type Logger as PinoLogger } from "pino";

export type Logger = PinoLogger;

/** Structured JSON logs on stdout, one object a line. */
export function createLogger(name: string, level: string): Logger {
  return pino({ name, level, base: { name } });
}
