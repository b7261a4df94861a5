// Live counts of the objects a reload supersedes: config snapshots (Runtime), upstream pool
// sets and pools, and policy instances (WASM). Each is counted when created and uncounted when the
// garbage collector finalizes it (FinalizationRegistry), so the count is what is still reachable
// (or not yet collected), not what the code believes it closed. After reloads with no call in
// flight, and a GC, every count returns to what the active config needs: the signal an operator
// alerts on (toolgate_live_objects) and what the reload test asserts.
//
// Bounded: one integer per kind; the registry holds no reference to the objects themselves.
// Process-wide on purpose: the GC is process-wide, and tests that start several toolgates in one
// process read differences.

export type LiveKind = 'config_snapshot' | 'pool_set' | 'upstream_pool' | 'policy_instance'

export const LIVE_KINDS: readonly LiveKind[] = ['config_snapshot', 'pool_set', 'upstream_pool', 'policy_instance']

const counts: Record<LiveKind, number> = { config_snapshot: 0, pool_set: 0, upstream_pool: 0, policy_instance: 0 }
const created: Record<LiveKind, number> = { config_snapshot: 0, pool_set: 0, upstream_pool: 0, policy_instance: 0 }

const registry = new FinalizationRegistry<LiveKind>((kind) => { counts[kind]-- })

/** Counts `obj` as live until it is garbage collected. Returns obj. */
export function trackLive<T extends object>(kind: LiveKind, obj: T): T {
  counts[kind]++
  created[kind]++
  registry.register(obj, kind)
  return obj
}

/** Objects of this kind created and not yet collected. */
export function liveCount(kind: LiveKind): number {
  return counts[kind]
}

/** Objects of this kind created since the process started. */
export function createdCount(kind: LiveKind): number {
  return created[kind]
}
