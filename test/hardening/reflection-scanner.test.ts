// Property test of the reflection guard's body scanner on its own: for random secrets, random
// surrounding bytes, any encoded form of the secret placed anywhere and any chunking of the
// stream, the output never contains the secret's form, keeps its length (redact mode), and
// changes no byte outside the occurrences.
import t from 'tap'
import fc from 'fast-check'
import { reflectionGuard, needlesOf, secretsOf } from '../../proxy/src/forward/reflection-guard.ts'

async function run(value: string, input: Buffer, cuts: number[]): Promise<Buffer> {
  const scanner = reflectionGuard(value, 'redact').body()
  const out: Buffer[] = []
  scanner.on('data', (c: Buffer) => out.push(c))
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b)
  let prev = 0
  for (const p of [...points, input.length]) {
    if (p > prev) scanner.write(input.subarray(prev, p))
    prev = Math.max(prev, p)
  }
  scanner.end()
  await new Promise((r) => scanner.on('end', r))
  return Buffer.concat(out)
}

t.test('property: no form of the secret survives any chunking; nothing else changes', async (t) => {
  await t.resolves(fc.assert(fc.asyncProperty(
    fc.stringMatching(/^[A-Za-z0-9._~+/=-]{8,40}$/),
    fc.uint8Array({ maxLength: 200 }),
    fc.uint8Array({ maxLength: 200 }),
    fc.nat(),
    fc.array(fc.nat(), { maxLength: 12 }),
    async (token, before, after, pick, cuts) => {
      const value = `Bearer ${token}`
      const needles = needlesOf(secretsOf(value))
      const form = needles[pick % needles.length]!
      const input = Buffer.concat([Buffer.from(before), form, Buffer.from(after)])
      const output = await run(value, input, cuts)
      if (output.length !== input.length) return false
      if (output.includes(form)) return false
      // Bytes before the occurrence are untouched unless they overlap another occurrence.
      for (let i = 0; i < output.length; i++) {
        if (output[i] !== input[i] && output[i] !== 0x2a) return false
      }
      return true
    },
  ), { numRuns: 400 }), 'fast-check found no counterexample in 400 runs')
})

t.test('the forms matched', async (t) => {
  const forms = needlesOf(secretsOf('Basic ' + Buffer.from('alice:s3cret-passw0rd').toString('base64'))).map(String)
  t.ok(forms.includes('alice:s3cret-passw0rd'), 'decoded Basic user:password')
  t.ok(forms.includes('s3cret-passw0rd'), 'the password alone')
  t.ok(forms.includes(encodeURIComponent('alice:s3cret-passw0rd')), 'URL-encoded')
  t.notOk(forms.some((f) => f.length < 8), 'nothing short enough to match ordinary text')
})
