// Injector settings: what the webhook adds to an opted-in pod. The chart renders them into a
// ConfigMap (charts/toolgate/templates/injector-configmap.yaml) that `toolgate inject --settings`
// reads; every field has a default so an empty file is a working (proxy-variable) setup. Fields,
// types, bounds and defaults are all in config/injector-settings.schema.json (the type and the
// defaults are generated from it: settings.gen.ts). Validated with ajv; unknown fields are an
// error, so a typo in values.yaml does not pass silently.

import { readFileSync } from 'node:fs'
import { Ajv } from 'ajv'
import { parse as parseYaml } from 'yaml'
import { SETTINGS_DEFAULTS, SETTINGS_SCHEMA, type InjectorSettings } from './settings.gen.ts'

export type InterceptionMode = InjectorSettings['mode']
export type ResourceSettings = InjectorSettings['resources']
export type { InjectorSettings }

/**
 * Memory settings of the sidecar process. Node sizes its heap for a machine, not a sidecar: by
 * default the young generation alone may take 3 x 16 MiB, and V8 grows the old generation
 * lazily while there is room, so one sidecar under load reached 180-300 MiB RSS with ~20 MiB of
 * live objects. A 4 MiB semi-space and a 128 MiB old-generation cap (below the default 256Mi
 * container limit, so V8 collects harder before the kernel would kill the pod) keep it at
 * ~120-130 MiB; MALLOC_ARENA_MAX=2 stops glibc from giving each libuv/V8 worker thread its own
 * malloc arena (another ~10 MiB). A 2 MiB semi-space saved only ~4 MiB more and cost ~8 % of
 * throughput in interleaved runs. Measured in docs/benchmarks.md; the benchmark suite runs
 * toolgate with these same settings.
 */
export const SIDECAR_RUNTIME: InjectorSettings['runtime'] = SETTINGS_DEFAULTS.runtime

/** Every default, from config/injector-settings.schema.json (a fresh copy each call). */
export function defaultSettings(): InjectorSettings {
  return structuredClone(SETTINGS_DEFAULTS)
}

const validate = new Ajv({ allErrors: true, strict: true }).compile(SETTINGS_SCHEMA)

/** Deep merge of plain objects; arrays and scalars from `over` replace. */
function merge<T>(base: T, over: unknown): T {
  if (over === undefined || over === null) return base
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || Array.isArray(over)) return over as T
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) }
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) out[k] = merge(out[k], v)
  return out as T
}

/** Settings from a partial object (YAML/JSON parsed); throws one Error listing every problem. */
export function resolveSettings(partial: unknown, source = 'settings'): InjectorSettings {
  if (partial !== undefined && partial !== null && (typeof partial !== 'object' || Array.isArray(partial))) {
    throw new Error(`${source}: expected a mapping of injector settings`)
  }
  if (partial && !validate(partial)) {
    const problems = (validate.errors ?? []).map((e) => {
      const where = e.instancePath || '/'
      if (e.keyword === 'additionalProperties') return `${where}: unknown field '${String(e.params['additionalProperty'])}'`
      if (e.keyword === 'enum') return `${where}: must be one of ${(e.params['allowedValues'] as unknown[]).join(', ')}`
      return `${where}: ${e.message ?? 'invalid'}`
    })
    throw new Error(`${source}: invalid injector settings:\n  ${problems.join('\n  ')}`)
  }
  return merge(defaultSettings(), partial)
}

export function loadSettingsFile(file: string): InjectorSettings {
  const text = readFileSync(file, 'utf8')
  return resolveSettings(parseYaml(text) as unknown, file)
}
