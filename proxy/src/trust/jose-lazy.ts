// jose, loaded on the first token to verify rather than at start-up: a sidecar with no trusted
// issuers or approvers (the common case) never needs it, and importing it eagerly cost ~110 KB of
// bundle to compile and ~20 ms of every start (issue 19). One promise for the process, so every
// caller shares one load; a failed load is retried on the next call rather than cached.

type Jose = typeof import('jose')

let loading: Promise<Jose> | null = null

export function loadJose(): Promise<Jose> {
  loading ??= import('jose').catch((err: unknown) => {
    loading = null
    throw err
  })
  return loading
}
