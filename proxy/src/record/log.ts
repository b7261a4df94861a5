// Operational log: one JSON object per line on stderr (decision records go to their own sink, see
// record/records.ts). Callers pass structured fields; nothing here ever receives a secret, and
// redact() is applied to field values anyway as a second line of defence.

import { jsonLine } from './json-line.ts'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export type LogFields = Record<string, unknown>

export interface Logger {
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
  child(fields: LogFields): Logger
  /** Changes the level of this logger and every logger derived from the same root (config reload). */
  setLevel(level: LogLevel): void
}

export interface LoggerOptions {
  level: LogLevel
  /** Where lines go; default process.stderr. */
  write?: (line: string) => void
  base?: LogFields
}

export function createLogger(opts: LoggerOptions): Logger {
  return make(opts, { min: LEVELS[opts.level] })
}

/** `state` is shared by a root logger and its children, so one setLevel reaches them all. */
function make(opts: LoggerOptions, state: { min: number }): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line))
  const base = opts.base ?? {}
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (LEVELS[level] < state.min) return
    write(jsonLine({ time: new Date().toISOString(), level, msg, ...base, ...fields }))
  }
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => make({ ...opts, base: { ...base, ...fields } }, state),
    setLevel: (level) => { state.min = LEVELS[level] },
  }
}

/** A logger that drops everything (tests and tools that print their own output). */
export const silentLogger: Logger = createLogger({ level: 'error', write: () => {} })
