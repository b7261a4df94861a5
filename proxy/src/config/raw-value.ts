// Shapes shared by the cross-field config checks (config/semantic.ts and the checks it calls in
// ratelimit/ and trust/): a finding with the YAML path it points at, and safe readers of the raw
// (schema-checked, not yet resolved) config value.

import type { PathSegment } from './yaml-source.ts'

/** One problem JSON Schema cannot express, at a path of the config file (reported as file:line:col). */
export interface ConfigFinding {
  path: PathSegment[]
  at: 'key' | 'value'
  message: string
}

export type Obj = Record<string, unknown>
export const obj = (v: unknown): Obj | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null)
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])
