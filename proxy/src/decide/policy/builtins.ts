// Host implementations of the OPA builtins a compiled policy may call that neither the WASM
// module implements natively nor @open-policy-agent/opa-wasm provides: the time.* family.
// Semantics follow OPA's Go topdown implementation (checked by test/policy/builtins.test.ts
// against `opa eval`):
// - invalid arguments make the call undefined (OPA's default, non-strict builtin errors), which
//   the SDK passes to the module as "no value";
// - nanosecond results are returned as exact integer JSON text (an ArrayBuffer, which the SDK
//   hands to the module unparsed) because a JS number cannot hold ns since the epoch exactly;
// - arguments arrive through JSON.parse in the SDK, so an ns argument above 2^53 loses up to
//   ~256 ns of precision; that only matters for an instant within 256 ns of a second boundary.
// - time.now_ns() is fixed per evaluation, as in OPA: the engine sets the instant before it
//   evaluates (the input's time.now_ns, so policy and input agree).

/** Builtins @open-policy-agent/opa-wasm 1.10 implements itself (src/builtins). */
export const SDK_BUILTINS: ReadonlySet<string> = new Set([
  'json.is_valid', 'sprintf', 'regex.split', 'yaml.is_valid', 'yaml.marshal', 'yaml.unmarshal',
])

type Builtin = (...args: unknown[]) => unknown

export interface HostBuiltins {
  /** name -> implementation, as the SDK's customBuiltins parameter takes it. */
  readonly functions: Record<string, Builtin>
  /** Fixes time.now_ns() for the next evaluation. */
  setNow(ns: bigint): void
}

const encoder = new TextEncoder()
/** Exact JSON integer text for the module (see header comment). */
const exactInt = (n: bigint): ArrayBuffer => encoder.encode(n.toString()).buffer as ArrayBuffer

const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday']
const MAX_ZONE_CACHE = 64

// ---- time.parse_rfc3339_ns (Go time.Parse with time.RFC3339)

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:\d{2})$/

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate()
}

export function parseRfc3339Ns(s: unknown): bigint | undefined {
  if (typeof s !== 'string') return undefined
  const m = RFC3339.exec(s)
  if (!m) return undefined
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined
  if (hour > 23 || minute > 59 || second > 59) return undefined
  const frac = m[7] ?? ''
  // Go keeps nanoseconds (9 digits) and ignores further digits.
  const fracNs = frac === '' ? 0n : BigInt(frac.slice(0, 9).padEnd(9, '0'))
  let offsetS = 0
  const zone = m[8] as string
  if (zone !== 'Z') {
    const oh = Number(zone.slice(1, 3))
    const om = Number(zone.slice(4, 6))
    if (oh > 24 || om > 60) return undefined // Go's limits
    offsetS = (oh * 3600 + om * 60) * (zone[0] === '-' ? -1 : 1)
  }
  const utc = new Date(0)
  utc.setUTCFullYear(year, month - 1, day) // setUTCFullYear: years 0-99 stay literal
  utc.setUTCHours(hour, minute, second, 0)
  const ns = (BigInt(utc.getTime()) / 1000n - BigInt(offsetS)) * 1_000_000_000n + fracNs
  // OPA: "time outside of valid range" beyond int64 nanoseconds (years ~1678-2262).
  return ns < MIN_INT64 || ns > MAX_INT64 ? undefined : ns
}

const MIN_INT64 = -(1n << 63n)
const MAX_INT64 = (1n << 63n) - 1n

// ---- time.parse_duration_ns (Go time.ParseDuration)

const DURATION_UNITS: Record<string, bigint> = {
  ns: 1n, us: 1_000n, 'µs': 1_000n, 'μs': 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n,
}
const DURATION_PART = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/
const MAX_DURATION = (1n << 63n) - 1n

// OPA extends Go's units with d, w and y (24h, 7d, 365d): such a string is rewritten into hours
// (as a float, like OPA's rewriteSegment) and then parsed as a Go duration.
const EXTENDED_UNIT_HOURS: Record<string, number> = { d: 24, w: 168, y: 8760 }
const EXTENDED = /^([+-]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h|d|w|y))+)$/
const EXTENDED_SEGMENT = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w|y)/g

export function parseDurationNs(s: unknown): bigint | undefined {
  if (typeof s !== 'string' || s === '') return undefined
  if (/[dwy]/.test(s)) {
    const m = EXTENDED.exec(s)
    if (!m) return undefined
    let rewritten = m[1] as string
    for (const [, digits, unit] of (m[2] as string).matchAll(EXTENDED_SEGMENT)) {
      const hours = EXTENDED_UNIT_HOURS[unit as string]
      rewritten += hours === undefined ? `${digits}${unit}` : `${Number(digits) * hours}h`
    }
    return /e/.test(rewritten) ? undefined : parseGoDuration(rewritten)
  }
  return parseGoDuration(s)
}

function parseGoDuration(s: string): bigint | undefined {
  let rest = s
  let sign = 1n
  if (rest[0] === '-' || rest[0] === '+') {
    sign = rest[0] === '-' ? -1n : 1n
    rest = rest.slice(1)
  }
  if (rest === '0') return 0n
  if (rest === '') return undefined
  let total = 0n
  while (rest !== '') {
    const m = DURATION_PART.exec(rest)
    if (!m) return undefined
    const [whole, intPart = '', fracPart, unitName] = m as unknown as [string, string, string | undefined, string]
    if (intPart === '' && (fracPart === undefined || fracPart === '')) return undefined
    const unit = DURATION_UNITS[unitName] as bigint
    let v = BigInt(intPart === '' ? '0' : intPart) * unit
    if (fracPart) {
      // Go: fraction scaled by the unit, truncated toward zero.
      v += (BigInt(fracPart) * unit) / 10n ** BigInt(fracPart.length)
    }
    total += v
    if (total > MAX_DURATION + (sign < 0n ? 1n : 0n)) return undefined
    rest = rest.slice(whole.length)
  }
  return sign * total
}

// ---- time.clock / time.date / time.weekday (argument: ns, or [ns, zone])

interface Parts { year: number; month: number; day: number; hour: number; minute: number; second: number; weekday: number }

function nsAndZone(x: unknown): { ms: number; zone: string } | undefined {
  if (typeof x === 'number' && Number.isFinite(x)) return { ms: Math.floor(x / 1e6), zone: 'UTC' }
  if (Array.isArray(x) && x.length === 2 && typeof x[0] === 'number' && Number.isFinite(x[0]) && typeof x[1] === 'string') {
    return { ms: Math.floor(x[0] / 1e6), zone: x[1] }
  }
  return undefined
}

function createZoneParts(): (ms: number, zone: string) => Parts | undefined {
  const formatters = new Map<string, Intl.DateTimeFormat | null>()
  const formatter = (zone: string): Intl.DateTimeFormat | null => {
    let f = formatters.get(zone)
    if (f !== undefined) return f
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone === 'Local' ? undefined : zone,
        hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
        hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'long', era: 'short',
      })
    } catch {
      f = null // unknown zone: undefined, as OPA's LoadLocation error
    }
    if (formatters.size >= MAX_ZONE_CACHE) formatters.delete(formatters.keys().next().value as string)
    formatters.set(zone, f)
    return f
  }
  return (ms, zone) => {
    if (zone === '' || zone === 'UTC') {
      const d = new Date(ms)
      if (Number.isNaN(d.getTime())) return undefined
      return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(), weekday: d.getUTCDay() }
    }
    const f = formatter(zone)
    if (!f) return undefined
    const p: Record<string, string> = {}
    for (const part of f.formatToParts(new Date(ms))) p[part.type] = part.value
    const yearOfEra = Number(p['year'])
    return {
      year: p['era'] === 'BC' ? 1 - yearOfEra : yearOfEra,
      month: Number(p['month']), day: Number(p['day']),
      hour: Number(p['hour']), minute: Number(p['minute']), second: Number(p['second']),
      weekday: DAY_NAMES.indexOf(p['weekday'] ?? ''),
    }
  }
}

const MAX_PARSE_CACHE = 256

export function createHostBuiltins(): HostBuiltins {
  let nowNs = BigInt(Date.now()) * 1_000_000n
  const zoneParts = createZoneParts()
  // The same timestamps (a task's expires_at) are parsed on every call of that task: remember a few.
  const parsed = new Map<string, ArrayBuffer | undefined>()
  const parseCached = (s: unknown): ArrayBuffer | undefined => {
    if (typeof s !== 'string') return undefined
    if (parsed.has(s)) return parsed.get(s)
    const v = parseRfc3339Ns(s)
    const out = v === undefined ? undefined : exactInt(v)
    if (parsed.size >= MAX_PARSE_CACHE) parsed.delete(parsed.keys().next().value as string)
    parsed.set(s, out)
    return out
  }
  const parts = (x: unknown): Parts | undefined => {
    const a = nsAndZone(x)
    return a ? zoneParts(a.ms, a.zone) : undefined
  }
  const functions: Record<string, Builtin> = {
    'time.now_ns': () => exactInt(nowNs),
    'time.parse_rfc3339_ns': parseCached,
    'time.parse_duration_ns': (s) => {
      const v = parseDurationNs(s)
      return v === undefined ? undefined : exactInt(v)
    },
    'time.clock': (x) => {
      const p = parts(x)
      return p ? [p.hour, p.minute, p.second] : undefined
    },
    'time.date': (x) => {
      const p = parts(x)
      return p ? [p.year, p.month, p.day] : undefined
    },
    'time.weekday': (x) => {
      const p = parts(x)
      return p && p.weekday >= 0 ? DAY_NAMES[p.weekday] : undefined
    },
  }
  return {
    functions,
    setNow: (ns) => {
      nowNs = ns
    },
  }
}
