// `toolgate verify-records FILE [--jwks FILE|URL] [--key PEM] [--strict] [--json]`: checks the hash
// chain and checkpoint signatures of a records file (record/verify.ts) and reports the first gap,
// edit or reordering. Exit 0: intact; 1: a problem (or, with --strict, a warning); 2: usage or I/O.

import { readFile } from 'node:fs/promises'
import { createPublicKey, type KeyObject } from 'node:crypto'
import { parseFlags, type Command } from './command.ts'
import { keysFromJwks, verifyRecordsFile } from '../record/verify.ts'
import { ecThumbprint } from '../record/signer.ts'

const USAGE = `usage: toolgate verify-records FILE [--jwks FILE|URL] [--key PUBLIC.pem] [--strict] [--json]

Checks a decision records file written by toolgate: every line must carry the hash of the line
before it (prev) and the next sequence number (seq), and every checkpoint must carry a valid
ES256 signature. Prints the first gap (deleted lines), edit or reordering with its line number.

options:
      --jwks FILE|URL   trust only these keys (toolgate's admin /.well-known/jwks.json, saved or
                        fetched); without --jwks or --key each segment's declared key is used
      --key FILE        trust this PEM public key (repeatable)
      --strict          also fail on warnings (unsigned tail, segment without closing checkpoint)
      --json            print the result as one JSON object
  -h, --help            show this help

exit status: 0 intact, 1 a problem was found, 2 usage or read error
`

const MAX_JWKS_BYTES = 1024 * 1024

async function loadJwks(source: string): Promise<Map<string, KeyObject>> {
  let text: string
  if (/^https?:\/\//i.test(source)) {
    const res = await fetch(source, { signal: AbortSignal.timeout(10_000), redirect: 'error' })
    if (!res.ok) throw new Error(`GET ${source}: HTTP ${res.status}`)
    text = await res.text()
  } else {
    text = await readFile(source, 'utf8')
  }
  if (text.length > MAX_JWKS_BYTES) throw new Error(`${source}: larger than ${MAX_JWKS_BYTES} bytes`)
  return keysFromJwks(JSON.parse(text))
}

async function loadPem(path: string): Promise<[string, KeyObject]> {
  const key = createPublicKey(await readFile(path))
  const jwk = key.export({ format: 'jwk' }) as { crv?: string; kty?: string; x?: string; y?: string }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) throw new Error(`${path}: not an EC P-256 public key`)
  return [ecThumbprint({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }), key]
}

export const verifyRecordsCommand: Command = {
  summary: 'check the hash chain and signed checkpoints of a records file',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseFlags(argv, { jwks: { type: 'string', multiple: true }, key: { type: 'string', multiple: true }, strict: { type: 'boolean' }, json: { type: 'boolean' } }, true)
    if (positionals.length !== 1) {
      process.stderr.write(`toolgate verify-records: exactly one FILE is required\n${USAGE}`)
      return 2
    }
    let trusted: Map<string, KeyObject> | null = null
    try {
      for (const j of values.jwks ?? []) for (const [kid, k] of await loadJwks(j)) (trusted ??= new Map()).set(kid, k)
      for (const p of values.key ?? []) {
        const [kid, k] = await loadPem(p);
        (trusted ??= new Map()).set(kid, k)
      }
    } catch (err) {
      process.stderr.write(`toolgate verify-records: ${(err as Error).message}\n`)
      return 2
    }
    let result
    try {
      result = await verifyRecordsFile(positionals[0]!, { trusted })
    } catch (err) {
      process.stderr.write(`toolgate verify-records: ${(err as Error).message}\n`)
      return 2
    }
    const failed = !result.ok || (values.strict === true && result.warnings.length > 0)
    if (values.json) {
      process.stdout.write(JSON.stringify({ ...result, ok: !failed }) + '\n')
    } else {
      for (const w of result.warnings) process.stdout.write(`warning: ${w}\n`)
      if (result.problem) process.stdout.write(`${result.problem.kind}: ${result.problem.message}\n`)
      process.stdout.write(`${failed ? 'FAILED' : 'ok'}: ${result.lines} line(s), ${result.segments} segment(s), ${result.checkpoints} checkpoint(s) verified${result.uncovered ? `, ${result.uncovered} record(s) after the last checkpoint` : ''}\n`)
    }
    return failed ? 1 : 0
  },
}
