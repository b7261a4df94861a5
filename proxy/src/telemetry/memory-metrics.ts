// Memory gauges an operator can alert on (rows in record/metric-table.ts), read at scrape time
// (prom-client collect callbacks, so nothing runs between scrapes): the process's memory by area (from one process.memoryUsage()
// call), the WASM linear memory of policy instances, and the live counts of the objects a reload
// supersedes (live-objects.ts). Labels are fixed words or the policy revision (bounded, from the
// bundle manifest; never a secret).

import type { Registry } from 'prom-client'
import { gauge } from '../record/metric-table.ts'
import { LIVE_KINDS, liveCount } from './live-objects.ts'

/** A WASM linear memory (the lib config has no WebAssembly types): only its buffer is read. */
export interface LinearMemory { readonly buffer: ArrayBufferLike }

/** Every WASM memory still reachable, weakly: superseded ones drop out when collected. */
const wasmMemories = new Set<WeakRef<LinearMemory>>()
/** Upper bound of the set: pruned on every add, so only unreachable-but-uncollected entries count. */
const MAX_TRACKED_WASM = 256

/** Called by the policy loader for each instance's linear memory. */
export function trackWasmMemory(mem: LinearMemory): void {
  for (const ref of wasmMemories) if (ref.deref() === undefined) wasmMemories.delete(ref)
  if (wasmMemories.size >= MAX_TRACKED_WASM) return
  wasmMemories.add(new WeakRef(mem))
}

/** Bytes of every policy WASM memory not yet collected (active and superseded). */
export function wasmMemoryBytesTotal(): number {
  let total = 0
  for (const ref of wasmMemories) {
    const m = ref.deref()
    if (m === undefined) wasmMemories.delete(ref)
    else total += m.buffer.byteLength
  }
  return total
}

export interface MemorySources {
  /** The active policy: its revision and linear memory size, or null when none is loaded. */
  activePolicy?: () => { revision: string; bytes: number } | null
}

export function registerMemoryMetrics(registry: Registry): void {
  gauge(registry, 'toolgate_memory_bytes', {
    reuse: true,
    collect() {
      const m = process.memoryUsage()
      this.set({ area: 'rss' }, m.rss)
      this.set({ area: 'heap_used' }, m.heapUsed)
      this.set({ area: 'heap_total' }, m.heapTotal)
      this.set({ area: 'external' }, m.external)
      this.set({ area: 'array_buffers' }, m.arrayBuffers)
      this.set({ area: 'wasm' }, wasmMemoryBytesTotal())
    },
  })
  gauge(registry, 'toolgate_live_objects', {
    reuse: true,
    collect() {
      for (const kind of LIVE_KINDS) this.set({ kind }, liveCount(kind))
    },
  })
}

/** The active policy's WASM memory, labelled by revision (one series: reset on every scrape). */
export function registerPolicyMemoryMetric(registry: Registry, sources: Required<MemorySources>, label: (revision: string) => string): void {
  gauge(registry, 'toolgate_policy_wasm_memory_bytes', {
    reuse: true,
    collect() {
      this.reset()
      const p = sources.activePolicy()
      if (p) this.set({ revision: label(p.revision) }, p.bytes)
    },
  })
}
