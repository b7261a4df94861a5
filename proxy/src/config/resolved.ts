// ResolvedConfig: a validated toolgate.yaml with every default filled in (config/defaults.ts, the
// same values as the schema's `default` annotations), the shape the rest of the sidecar reads:
// no stage applies a default of its own. The transparent section (read by the iptables command),
// credential providers and the tools are passed through as written (an absent section is {}). Paths the config stage resolves (policy bundle file, signing
// key, records file) are absolute; other file fields stay as written and are resolved against
// source.dir by whoever reads them.

import { isAbsolute, resolve } from 'node:path'
import { createHash } from 'node:crypto'
import type {
  Agent, Approvals, CredentialProvider, Hardening, Labels, Limits, Mode, PolicySigning, RateLimits, RecordCheckpoints, Tasks, Telemetry, Timeouts, Tls, Tool, ToolgateConfig, Transparent,
} from './schema.gen.ts'
import { AGENT_ENV, DEFAULT_APPROVALS, DEFAULT_CHECKPOINTS, DEFAULT_LIMITS, DEFAULT_LISTENERS, DEFAULT_LOGGING, DEFAULT_MODE, DEFAULT_POLICY, DEFAULT_TASKS, DEFAULT_TIMEOUTS, DEFAULT_TLS } from './defaults.ts'

export interface ListenerAddress {
  host: string
  /** 0 = any free port. */
  port: number
}

/** Where the policy bundle comes from. */
export type BundleSource =
  | { kind: 'embedded' }
  | { kind: 'file'; path: string }
  | { kind: 'http'; url: string }

export interface ConfigSource {
  /** Absolute path of the config file. */
  file: string
  /** Its directory: relative paths in the config are relative to this. */
  dir: string
  /** The text that was parsed. */
  text: string
  /** sha256 of the text (hex): equal hashes mean nothing changed. */
  hash: string
}

export interface ResolvedConfig {
  version: 1
  mode: Mode
  listeners: {
    proxy: ListenerAddress
    admin: ListenerAddress
    /** Tasks and approvals; every call authenticated (trust/control-api.ts). */
    control: ListenerAddress
    /** Read-only /metrics and JWKS; present only when the config enables it. */
    metrics?: ListenerAddress
    /** Present only when the config enables it. */
    transparent_http?: ListenerAddress
    transparent_tls?: ListenerAddress
  }
  limits: Required<Limits>
  timeouts: Required<Timeouts>
  logging: {
    level: 'debug' | 'info' | 'warn' | 'error'
    records: 'stdout' | string
    /** key_file is absolute when set. */
    checkpoints: { interval_s: number; every_records: number; key_file?: string }
  }
  policy: {
    bundle: BundleSource
    entrypoint: string
    poll: { min_delay_ms: number; max_delay_ms: number }
    /** public_key is absolute. */
    signing?: PolicySigning
    data: Record<string, unknown>
  }
  /** Config values win; each absent field comes from the injector's environment variables. */
  agent: Agent & { labels: Labels }
  tls: Tls & { leaf_cache_size: number }
  transparent: Transparent
  credentials: Record<string, CredentialProvider>
  tasks: Tasks & typeof DEFAULT_TASKS
  approvals: Approvals & { timeout_ms: number; max_pending: number }
  /** As written; forward/override-hints.ts and forward/reflection-guard.ts apply the defaults. */
  hardening: Hardening
  /** As written (ratelimit/ applies its defaults); {} when absent. */
  rate_limits: RateLimits
  /** As written (telemetry/ applies its defaults); {} when absent: off. */
  telemetry: Telemetry
  tools: Tool[]
  source: ConfigSource
}

export function sourceOf(text: string, file: string): ConfigSource {
  const abs = resolve(file)
  return { file: abs, dir: resolve(abs, '..'), text, hash: createHash('sha256').update(text).digest('hex') }
}

/** policy.bundle as written -> where to load it from. */
export function bundleSource(bundle: string | undefined, dir: string): BundleSource {
  if (bundle === undefined) return { kind: 'embedded' }
  if (/^https?:\/\//i.test(bundle)) return { kind: 'http', url: bundle }
  return { kind: 'file', path: isAbsolute(bundle) ? bundle : resolve(dir, bundle) }
}

/** Fills every default into a schema-valid config. */
export function resolveConfig(raw: ToolgateConfig, source: ConfigSource, env: NodeJS.ProcessEnv): ResolvedConfig {
  const l = raw.listeners ?? {}
  const listeners: ResolvedConfig['listeners'] = {
    proxy: { ...DEFAULT_LISTENERS.proxy, ...l.proxy },
    admin: { ...DEFAULT_LISTENERS.admin, ...l.admin },
    // A config that asks for a free admin port (tests) gets a free control port too, unless it names one.
    control: { ...DEFAULT_LISTENERS.control, ...(l.admin?.port === 0 ? { port: 0 } : {}), ...l.control },
  }
  if (l.metrics) listeners.metrics = { host: '127.0.0.1', port: 0, ...l.metrics }
  if (l.transparent_http) listeners.transparent_http = { ...DEFAULT_LISTENERS.transparent_http, ...l.transparent_http }
  if (l.transparent_tls) listeners.transparent_tls = { ...DEFAULT_LISTENERS.transparent_tls, ...l.transparent_tls }

  const p = raw.policy ?? {}
  const policy: ResolvedConfig['policy'] = {
    bundle: bundleSource(p.bundle, source.dir),
    entrypoint: p.entrypoint ?? DEFAULT_POLICY.entrypoint,
    poll: { ...DEFAULT_POLICY.poll, ...p.poll },
    data: (p.data as Record<string, unknown> | undefined) ?? {},
  }
  if (p.signing) policy.signing = { ...p.signing, public_key: resolve(source.dir, p.signing.public_key) }

  const records = raw.logging?.records ?? DEFAULT_LOGGING.records
  const a = raw.agent ?? {}
  const agent: ResolvedConfig['agent'] = { ...a, labels: a.labels ?? {} }
  for (const [field, variable] of Object.entries(AGENT_ENV) as Array<[keyof typeof AGENT_ENV, string]>) {
    const fromEnv = env[variable]
    if (agent[field] === undefined && fromEnv !== undefined && fromEnv !== '') agent[field] = fromEnv
  }

  return {
    version: 1,
    mode: raw.mode ?? DEFAULT_MODE,
    listeners,
    limits: { ...DEFAULT_LIMITS, ...raw.limits },
    timeouts: { ...DEFAULT_TIMEOUTS, ...raw.timeouts },
    logging: {
      level: raw.logging?.level ?? DEFAULT_LOGGING.level,
      records: records === 'stdout' ? records : resolve(source.dir, records),
      checkpoints: resolveCheckpoints(raw.logging?.checkpoints, source.dir),
    },
    policy,
    agent,
    tls: { ...DEFAULT_TLS, ...raw.tls },
    transparent: raw.transparent ?? {},
    credentials: raw.credentials ?? {},
    tasks: { ...DEFAULT_TASKS, ...raw.tasks },
    approvals: { ...DEFAULT_APPROVALS, ...raw.approvals },
    hardening: raw.hardening ?? {},
    rate_limits: raw.rate_limits ?? {},
    telemetry: raw.telemetry ?? {},
    tools: raw.tools,
    source,
  }
}

function resolveCheckpoints(c: RecordCheckpoints | undefined, dir: string): ResolvedConfig['logging']['checkpoints'] {
  const out: ResolvedConfig['logging']['checkpoints'] = {
    interval_s: c?.interval_s ?? DEFAULT_CHECKPOINTS.interval_s,
    every_records: c?.every_records ?? DEFAULT_CHECKPOINTS.every_records,
  }
  if (c?.key_file !== undefined) out.key_file = resolve(dir, c.key_file)
  return out
}
