// The host builtins toolgate provides to WASM policies (time.*; the SDK lacks them) give the
// same answers as OPA's own implementation: a fixture policy calling each of them is compiled to
// WASM and evaluated in process, and the same Rego is evaluated by `opa eval`, over one corpus.
// Big nanosecond values are also compared through their remainder modulo 1e9, which stays
// exact, so a rounding error in the host implementation cannot hide behind JSON doubles.

import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { PolicyEngine } from '../../proxy/src/decide/policy/engine.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'
import { buildBundle, opaEval, tempDir } from './helpers.ts'

const REGO = `package fixture

rfc3339 := {s: [ns, ns % 1000000000] | some s in input.rfc3339; ns := time.parse_rfc3339_ns(s)}

durations := {s: ns | some s in input.durations; ns := time.parse_duration_ns(s)}

clock := {k: time.clock(x) | some k, x in input.instants}

date := {k: time.date(x) | some k, x in input.instants}

weekday := {k: time.weekday(x) | some k, x in input.instants}

decision := {
	"rfc3339": rfc3339,
	"durations": durations,
	"clock": clock,
	"date": date,
	"weekday": weekday,
}

now := {"now_ns": time.now_ns(), "same_as_input": time.now_ns() == input.time.now_ns}
`

const RFC3339 = [
  '2026-01-01T10:00:00Z', '2026-01-01T10:00:00.123456789Z', '2026-01-01T10:00:00.1Z', '2026-01-01T10:00:00.1234567891Z',
  '2026-06-30T23:59:59+02:00', '2026-06-30T23:59:59-09:30', '1970-01-01T00:00:00Z', '1969-12-31T23:59:59.999999999Z',
  '2024-02-29T12:00:00Z', '2023-02-29T12:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T10:60:00Z',
  '2026-01-01T10:00:60Z', '2026-01-01t10:00:00Z', '2026-01-01T10:00:00z', '2026-01-01T10:00:00', '2026-01-01 10:00:00Z',
  '26-01-01T10:00:00Z', '2026-1-01T10:00:00Z', '2026-01-01T10:00:00+24:00', '2026-01-01T10:00:00+0100', 'nonsense', '',
  '0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999999999Z', '2026-01-01T10:00:00,5Z',
]

const DURATIONS = [
  '2d', '1.5w', '1y2d3h', '-1d12h', '1x', 'd', '1dd', '0.5d30m', 
  '1h30m', '1.5h', '300ms', '-2m', '+3s', '0', '', '1', '1d', '2us', '2µs', '7ns', '1h1m1s1ms1us1ns', '.5s', '1.s', '.s',
  '2562047h47m16.854775807s', '2562047h47m16.854775808s', '-2562047h47m16.854775808s', '1.0000000001s', '3m-2s', 'h',
]

const NS = (ms: number): number => ms * 1e6
const INSTANTS: Record<string, unknown> = {
  epoch: 0,
  mid: NS(Date.UTC(2026, 2, 14, 15, 9, 26)),
  utc_pair: [NS(Date.UTC(2026, 2, 14, 23, 30)), 'UTC'],
  empty_zone: [NS(Date.UTC(2026, 2, 14, 23, 30)), ''],
  new_york: [NS(Date.UTC(2026, 2, 14, 3, 30)), 'America/New_York'],
  berlin_dst: [NS(Date.UTC(2026, 2, 29, 1, 30)), 'Europe/Berlin'],
  kolkata: [NS(Date.UTC(2026, 11, 31, 20, 0)), 'Asia/Kolkata'],
  unknown_zone: [NS(Date.UTC(2026, 0, 1)), 'Mars/Olympus'],
  before_epoch: NS(Date.UTC(1960, 5, 15, 12)),
  leap_day: NS(Date.UTC(2024, 1, 29, 23, 59, 59)),
  not_a_number: 'yesterday',
}

t.test('time builtins: WASM host implementation == opa eval', async (t) => {
  const dir = tempDir(t)
  const regoFile = join(dir, 'fixture.rego')
  writeFileSync(regoFile, REGO)
  const bundle = buildBundle(dir, { files: { 'fixture/policy.rego': REGO }, entrypoints: ['fixture/decision', 'fixture/now'], revision: 'builtins' })
  const bundlePath = join(dir, 'builtins.tar.gz')
  writeFileSync(bundlePath, bundle)
  const engine = await PolicyEngine.start({ source: { kind: 'file', path: bundlePath }, entrypoint: 'fixture/decision', registry: new Registry(), logger: silentLogger })
  t.teardown(() => engine.close())
  t.same(engine.readiness(), { ready: true, reason: null }, 'a bundle needing time.* builtins loads')

  const input = { rfc3339: RFC3339, durations: DURATIONS, instants: INSTANTS, time: { now_ns: 0 } }
  const expected = opaEval('data.fixture.decision', [regoFile], input, dir) as Record<string, Record<string, unknown>>
  const got = rawEvaluate(engine, input)
  for (const k of ['rfc3339', 'durations', 'clock', 'date', 'weekday']) {
    t.same(got[k], expected[k], `${k} agrees with OPA`)
  }
  t.ok(Object.keys(expected['rfc3339'] ?? {}).length >= 8 && Object.keys(expected['rfc3339'] ?? {}).length < RFC3339.length, 'corpus has valid and invalid timestamps')
  t.ok(Object.keys(expected['durations'] ?? {}).length >= 8 && Object.keys(expected['durations'] ?? {}).length < DURATIONS.length, 'corpus has valid and invalid durations')
  t.notOk('unknown_zone' in (expected['clock'] ?? {}), 'an unknown zone is undefined in OPA too')
})

t.test('time.now_ns is the evaluation instant from the input', async (t) => {
  const dir = tempDir(t)
  const bundlePath = join(dir, 'now.tar.gz')
  writeFileSync(bundlePath, buildBundle(dir, { files: { 'fixture/policy.rego': REGO }, entrypoints: ['fixture/now'] }))
  const engine = await PolicyEngine.start({ source: { kind: 'file', path: bundlePath }, entrypoint: 'fixture/now', registry: new Registry(), logger: silentLogger })
  t.teardown(() => engine.close())
  // 535 ms: ms * 1e6 is not exactly representable as a double, the case that needs care.
  for (const nowNs of [Date.UTC(2026, 4, 1, 8) * 1e6, Date.UTC(2026, 2, 14, 15, 9, 26, 535) * 1e6, Date.UTC(2026, 2, 14, 15, 9, 26, 1) * 1e6]) {
    const r = rawEvaluate(engine, { time: { now_ns: nowNs } })
    t.equal(r['same_as_input'], true, `time.now_ns() == input.time.now_ns inside the policy (${nowNs})`)
    t.equal(r['now_ns'], nowNs)
  }
})

/** The fixture entrypoints' values are not PolicyResults, so read the raw result set. */
function rawEvaluate(engine: PolicyEngine, input: unknown): Record<string, unknown> {
  const rs = engine.evaluateRaw(input) as Array<{ result: Record<string, unknown> }>
  return rs[0]?.result ?? {}
}
