// A config problem, located in the source file. Every stage of loading (YAML syntax, schema,
// semantic rules, referenced files) reports through this one shape, so `toolgate check` can print
// all of them at once, sorted by where they are in the file.

export interface ConfigError {
  /** The config file (as given to the loader). */
  file: string
  /** 1-based; 0 when the problem has no position (e.g. the file cannot be read). */
  line: number
  /** 1-based; 0 when the problem has no position. */
  column: number
  /** The offending field, e.g. tools[2].routes[0].methods[1]; '' for the document itself. */
  path: string
  message: string
}

/** Orders errors by file, then position, then path, so output reads top to bottom. */
export function compareConfigErrors(a: ConfigError, b: ConfigError): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1
  if (a.line !== b.line) return a.line - b.line
  if (a.column !== b.column) return a.column - b.column
  if (a.path !== b.path) return a.path < b.path ? -1 : 1
  return a.message < b.message ? -1 : a.message > b.message ? 1 : 0
}

/** One line per error, "file:line:col: path: message", sorted by position. */
export function formatConfigErrors(errors: readonly ConfigError[]): string {
  return [...errors]
    .sort(compareConfigErrors)
    .map((e) => `${e.file}:${e.line}:${e.column}: ${e.path === '' ? '(document)' : e.path}: ${e.message}`)
    .join('\n')
}

/** Renders path segments the way a reader writes them: tools[2].match.host, labels["a/b"]. */
export function formatPath(segments: readonly (string | number)[]): string {
  let out = ''
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(s)) out += out === '' ? s : `.${s}`
    else out += `[${JSON.stringify(s)}]`
  }
  return out
}
