// Memory stays flat: 1,000,000 evaluations of the default policy over a varied corpus (every
// rule, MCP arguments of different sizes, time builtins). The WASM linear memory must not grow
// at all after warm-up (each evaluation resets the module's heap), and the JS heap measured
// after a full GC must stay within a small constant of its post-warm-up size.

import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Registry } from 'prom-client'
import { PolicyEngine } from '../../proxy/src/decide/policy/engine.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'
import { corpus } from './corpus.ts'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const TOTAL = 1_000_000
const CHUNK = 100_000
const HEAP_SLACK = 8 * 1024 * 1024

t.test(`${TOTAL} evaluations: WASM memory and JS heap do not grow`, async (t) => {
  const engine = await PolicyEngine.start({ source: { kind: 'embedded' }, entrypoint: 'toolgate/decision', registry: new Registry(), logger: silentLogger })
  t.teardown(() => engine.close())
  const inputs = corpus(256, 7).map((input, i) => {
    // Vary the input size too: MCP arguments from a few bytes to ~32 KiB.
    if (i % 8 === 0) input.mcp = { method: 'tools/call', tool: 'post_message', arguments: { text: 'x'.repeat((i * 131) % 32768) } }
    return input
  })

  let errors = 0
  let allowed = 0
  const run = (n: number, offset: number): void => {
    for (let i = 0; i < n; i++) {
      const d = engine.evaluate(inputs[(offset + i) % inputs.length] as (typeof inputs)[number])
      if (!d.ok) errors++
      else if (d.result.allow) allowed++
    }
  }

  run(20_000, 0) // warm-up: JIT, the largest input has been seen, so memory is at its working size
  gc()
  const wasm0 = engine.wasmMemoryBytes()
  const heap0 = process.memoryUsage().heapUsed
  const samples: Array<{ evals: number; wasm: number; heap: number }> = []
  for (let done = 0; done < TOTAL; done += CHUNK) {
    run(CHUNK, done)
    gc()
    samples.push({ evals: done + CHUNK, wasm: engine.wasmMemoryBytes(), heap: process.memoryUsage().heapUsed })
  }
  t.comment(`wasm memory ${wasm0} B at start; heap ${(heap0 / 1048576).toFixed(1)} MiB at start`)
  for (const s of samples) t.comment(`${s.evals}: wasm ${s.wasm} B, heap ${(s.heap / 1048576).toFixed(1)} MiB`)

  t.equal(errors, 0, 'every evaluation succeeded')
  t.ok(allowed > 0 && allowed < TOTAL, 'the corpus has both allowed and denied calls')
  t.ok(samples.every((s) => s.wasm === wasm0), 'WASM linear memory did not grow after warm-up')
  const maxHeap = Math.max(...samples.map((s) => s.heap))
  t.ok(maxHeap - heap0 < HEAP_SLACK, `JS heap growth ${((maxHeap - heap0) / 1048576).toFixed(2)} MiB < ${HEAP_SLACK / 1048576} MiB`)
  const last = samples.at(-1) as { heap: number }
  const mid = samples[Math.floor(samples.length / 2)] as { heap: number }
  t.ok(last.heap - mid.heap < HEAP_SLACK / 2, 'no upward trend in the second half')
})
