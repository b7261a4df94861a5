// One instantiated policy: the WASM module of a parsed bundle with its data loaded, bound to one
// entrypoint. Built completely (and checked: entrypoint present, every builtin it needs
// available) before the engine swaps it in, so a bad bundle never replaces a good one.
// Memory is bounded: the module's linear memory may grow to maxMemoryPages and no further (an
// evaluation that needs more fails, and the call is denied).

import { createHash } from 'node:crypto'
import { loadPolicy } from '@open-policy-agent/opa-wasm'
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm'
import { createHostBuiltins, SDK_BUILTINS } from './builtins.ts'
import type { HostBuiltins } from './builtins.ts'
import type { ParsedBundle } from './bundle.ts'
import { trackLive } from '../../telemetry/live-objects.ts'
import { trackWasmMemory } from '../../telemetry/memory-metrics.ts'

export const DEFAULT_MAX_MEMORY_PAGES = 1024 // 64 MiB

export class PolicyLoadError extends Error {
  override name = 'PolicyLoadError'
}

export interface WasmPolicy {
  readonly revision: string
  readonly entrypoint: string
  /** Evaluates at the given instant (time.now_ns); returns the raw result set. Throws on error. */
  evaluate(input: unknown, nowNs: bigint): unknown
  /** Current size of the module's linear memory, in bytes. */
  memoryBytes(): number
}

interface Exports {
  builtins(): number
  opa_json_dump(addr: number): number
  opa_eval(reserved: number, entrypoint: number, data: number, input: number, inputLen: number, heapPtr: number, format: number): number
}

const PAGE = 64 * 1024
const encoder = new TextEncoder()
const decoder = new TextDecoder()

/**
 * The evaluation hot path over the module's opa_eval export (ABI 1.2, which `opa build` emits):
 * the same steps as the SDK's LoadedPolicy.evaluate, but encoding the input straight into
 * linear memory and finding the result's end with a native scan, without per-call
 * TextEncoder/TextDecoder construction. Falls back to the SDK for older ABIs.
 */
function fastEvaluator(policy: LoadedPolicy, entrypointId: number): (input: unknown) => unknown {
  if (!(Number(policy.minorVersion) >= 2)) return (input) => policy.evaluate(input, entrypointId)
  const ex = (policy.wasmInstance as unknown as { exports: Exports }).exports
  const mem = policy.mem
  return (input) => {
    const text = JSON.stringify(input)
    const addr = policy.dataHeapPtr as number
    let len: number
    if (addr + text.length * 3 <= mem.buffer.byteLength) {
      len = encoder.encodeInto(text, new Uint8Array(mem.buffer, addr, text.length * 3)).written
    } else {
      const bytes = encoder.encode(text)
      const missing = addr + bytes.length - mem.buffer.byteLength
      if (missing > 0) mem.grow(Math.ceil(missing / PAGE)) // RangeError beyond the memory bound: the call is denied
      new Uint8Array(mem.buffer).set(bytes, addr)
      len = bytes.length
    }
    const ret = ex.opa_eval(0, entrypointId, policy.dataAddr, addr, len, addr + len, 0)
    const view = new Uint8Array(mem.buffer)
    const end = view.indexOf(0, ret)
    return JSON.parse(decoder.decode(view.subarray(ret, end < 0 ? view.length : end)))
  }
}

function readCString(mem: { buffer: ArrayBuffer }, addr: number): string {
  const bytes = new Uint8Array(mem.buffer)
  let end = addr
  while (end < bytes.length && bytes[end] !== 0) end++
  return new TextDecoder().decode(bytes.subarray(addr, end))
}

/** Builtin names the module calls on the host (its `builtins` export). */
function requiredBuiltins(policy: LoadedPolicy): string[] {
  const ex = (policy.wasmInstance as unknown as { exports: Exports }).exports
  return Object.keys(JSON.parse(readCString(policy.mem, ex.opa_json_dump(ex.builtins()))) as Record<string, number>)
}

type CompiledModule = Parameters<typeof loadPolicy>[0]
interface WasmCompiler { compile(bytes: Uint8Array): Promise<CompiledModule> }

/**
 * Compiled modules by sha256 of policy.wasm, the two most recent. A bundle swap or a policy
 * reload that keeps the same policy.wasm (a data or manifest change, switching back to the
 * previous bundle) reuses the compiled code instead of compiling it again: compiling is the
 * costliest part of a load, and each compile allocated fresh native code space. Bounded: two
 * entries, the active module and the one before it.
 */
const compiled = new Map<string, CompiledModule>()
const MAX_COMPILED = 2

async function compiledModule(wasm: Uint8Array): Promise<CompiledModule> {
  const key = createHash('sha256').update(wasm).digest('hex')
  const hit = compiled.get(key)
  if (hit !== undefined) {
    compiled.delete(key)
    compiled.set(key, hit) // most recent last
    return hit
  }
  const mod = await (globalThis as unknown as { WebAssembly: WasmCompiler }).WebAssembly.compile(wasm)
  compiled.set(key, mod)
  while (compiled.size > MAX_COMPILED) compiled.delete(compiled.keys().next().value!)
  return mod
}

/** Compiled policy modules kept for reuse (for tests). */
export function compiledModuleCount(): number {
  return compiled.size
}

export async function instantiatePolicy(bundle: ParsedBundle, entrypoint: string, extraData: Record<string, unknown> | undefined, maxMemoryPages = DEFAULT_MAX_MEMORY_PAGES): Promise<WasmPolicy> {
  const host: HostBuiltins = createHostBuiltins()
  let policy: LoadedPolicy
  try {
    policy = await loadPolicy(await compiledModule(bundle.wasm), { initial: 5, maximum: maxMemoryPages }, host.functions)
  } catch (err) {
    throw new PolicyLoadError(`policy.wasm cannot be loaded: ${String((err as Error)?.message ?? err)}`)
  }
  const entrypoints = policy.entrypoints as Record<string, number>
  if (!Object.prototype.hasOwnProperty.call(entrypoints, entrypoint)) {
    throw new PolicyLoadError(`policy.wasm has no entrypoint ${entrypoint} (it has: ${Object.keys(entrypoints).join(', ') || 'none'})`)
  }
  const missing = requiredBuiltins(policy).filter((b) => !SDK_BUILTINS.has(b) && !(b in host.functions))
  if (missing.length > 0) throw new PolicyLoadError(`policy.wasm needs builtins toolgate does not provide: ${missing.join(', ')}`)

  // The operator's policy.data goes under data.toolgate_config and wins over bundle data there.
  const data = extraData === undefined ? bundle.data : { ...bundle.data, toolgate_config: extraData }
  try {
    policy.setData(data)
  } catch (err) {
    throw new PolicyLoadError(`bundle data cannot be loaded into the policy: ${String((err as Error)?.message ?? err)}`)
  }
  const entrypointId = entrypoints[entrypoint] as number
  const evaluate = fastEvaluator(policy, entrypointId)
  // Counted until collected: a superseded instance (and its memory, which never shrinks) must be
  // released once the last evaluation that holds it ends (toolgate_live_objects, the reload test).
  trackWasmMemory(policy.mem)
  return trackLive('policy_instance', {
    revision: bundle.manifest.revision,
    entrypoint,
    evaluate(input, nowNs) {
      host.setNow(nowNs)
      return evaluate(input)
    },
    memoryBytes: () => policy.mem.buffer.byteLength,
  })
}
