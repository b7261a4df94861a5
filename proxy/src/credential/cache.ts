// The credential cache: an lru-cache of CacheEntry per key (provider, task, tool, audience,
// resource, scopes, policy TTL), bounded by `max`.
//
// - lru-cache's fetchMethod is the one place a credential is fetched: concurrent callers of one
//   key share the fetch under way, and a background refresh keeps the old entry served (stale
//   while revalidating) until the new one lands.
// - dispose is the one place an entry leaves: evicted, deleted (task end, reload, shutdown, the
//   reason is the one drop() was given) or replaced by a newer fetch; each retires the entry's
//   issuances through the lifecycle (revocation at the issuer, records).
// - lru-cache calls no dispose for what sits under a fetch it aborts (the stale entry, and the
//   entry the fetch produces if it lands after the abort): the fetch's abort listener retires
//   them. An eviction of a fetch under way (the bound reached by fetches) does not fail the calls
//   waiting for it: the fetch completes and its entry is cached again.
// - An index from task id to its keys (fetches under way included) lets a task end reach all of
//   its credentials.

import { LRUCache } from 'lru-cache'
import type { CacheEntry } from './entry.ts'
import type { RetireReason } from './records.ts'
import { MAX_DECISION_IDS } from './entry.ts'

/** Decision ids that joined one fetch (kept up to MAX_DECISION_IDS; count is exact). */
export interface Waiters {
  ids: string[]
  count: number
}

export interface FetchContext {
  taskId: string | null
}

export interface CredentialCacheOptions<C extends FetchContext> {
  max: number
  /**
   * Fetches the entry for key. `stale` is the entry being replaced (if any); `waiters` fills with
   * the decisions that wait for this fetch until it resolves.
   */
  load(key: string, context: C, stale: CacheEntry | undefined, signal: AbortSignal, waiters: Waiters): Promise<CacheEntry>
  /** The entry stops being served: revoke and record (must not throw). */
  retire(entry: CacheEntry, reason: RetireReason): Promise<void>
  /** The entry was replaced by a newer fetch of the same key. */
  replaced(entry: CacheEntry): void
}

export class CredentialCache<C extends FetchContext> {
  private readonly lru: LRUCache<string, CacheEntry, C>
  private readonly opts: CredentialCacheOptions<C>
  private readonly byTask = new Map<string, Set<string>>()
  private readonly waiting = new Map<string, Waiters>()
  private readonly loading = new Set<Promise<unknown>>()
  /** The reason of the drop() under way (dispose and abort listeners run synchronously inside it). */
  private ending: RetireReason | null = null
  private readonly retiring = new Map<CacheEntry, Promise<void>>()
  /** Fetches evicted while under way (they still land, and calls still join them). */
  private readonly evictedRuns = new Map<string, { run: Promise<CacheEntry>; waiters: Waiters; drop(reason: RetireReason): void }>()

  constructor(opts: CredentialCacheOptions<C>) {
    this.opts = opts
    this.lru = new LRUCache<string, CacheEntry, C>({
      max: opts.max,
      // get() answers the entry a background refresh is replacing (we decide usability ourselves;
      // no lru-cache TTL is set, so nothing else is ever "stale").
      allowStale: true,
      // A failed refresh keeps the old entry (it is retired when replaced or dropped, never lost).
      noDeleteOnFetchRejection: true,
      // An aborted fetch settles when its fetchMethod does (runFetch decides what an abort means).
      ignoreFetchAbort: true,
      dispose: (entry, key, why) => {
        if (why === 'set') {
          this.opts.replaced(entry)
          return
        }
        if (why === 'evict' || why === 'delete' || why === 'expire') this.unindex(entry.taskId, key)
        this.retire(entry, why === 'evict' ? 'evicted' : this.ending ?? 'evicted')
      },
      fetchMethod: (key, stale, { signal, context }) => this.runFetch(key, stale, signal, context),
    })
  }

  /** Entries and fetches under way. */
  get size(): number {
    return this.lru.size
  }

  /** The entry for key (marks it most recently used), or the one a refresh is replacing. */
  get(key: string): CacheEntry | undefined {
    return this.lru.get(key)
  }

  /** True while a fetch of key is under way. */
  fetching(key: string): boolean {
    return this.waiting.has(key)
  }

  /**
   * The new entry for key: joins the fetch under way, or starts one (replacing what is cached).
   * Rejects with the fetch's error.
   */
  async fetch(key: string, context: C, decisionId: string): Promise<CacheEntry> {
    const orphan = this.evictedRuns.get(key)
    // A fetch evicted while under way is still the one fetch of its key until it lands.
    const p = orphan && this.waiting.get(key) === orphan.waiters && this.lru.peek(key) === undefined
      ? orphan.run
      : this.lru.fetch(key, withContext<C>({ context, forceRefresh: true, allowStale: false }))
    const w = this.waiting.get(key)
    if (w) {
      w.count += 1
      if (w.ids.length < MAX_DECISION_IDS) w.ids.push(decisionId)
    }
    const entry = await p
    if (entry === undefined) throw new Error('the credential fetch was abandoned')
    return entry
  }

  /** Starts a background refresh of key unless one is under way; the current entry keeps serving. */
  refresh(key: string, context: C): void {
    void this.lru.fetch(key, withContext<C>({ context, forceRefresh: true, allowStale: true })).catch(() => {})
  }

  /** Drops every credential of the task (fetches under way are aborted) and waits for the revocations. */
  async dropTask(taskId: string, reason: RetireReason): Promise<void> {
    const keys = this.byTask.get(taskId)
    this.byTask.delete(taskId)
    if (!keys) return
    await Promise.all([...keys].map((key) => this.drop(key, reason)))
  }

  /** Drops every entry (and fetch under way) whose current entry matches. */
  async dropWhere(match: (entry: CacheEntry) => boolean, reason: RetireReason): Promise<void> {
    // Fetches under way without an entry to match (first fetches, evicted ones) are left to land:
    // the broker never serves an entry of a replaced provider.
    const keys = new Set([...this.lru.keys(), ...this.waiting.keys()])
    const drops: Promise<void>[] = []
    for (const key of keys) {
      const entry = this.lru.peek(key)
      if (entry && match(entry)) drops.push(this.drop(key, reason))
    }
    await Promise.all(drops)
  }

  /** Drops everything, then waits for the fetches under way to finish (their results are retired). */
  async clear(reason: RetireReason): Promise<void> {
    const entries = [...this.lru.values()]
    for (const orphan of this.evictedRuns.values()) orphan.drop(reason)
    this.ending = reason
    try {
      this.lru.clear()
    } finally {
      this.ending = null
    }
    this.byTask.clear()
    while (this.loading.size > 0) await Promise.allSettled([...this.loading])
    await Promise.all(entries.map((e) => this.retiring.get(e)))
  }

  /** Removes key; dispose (or the abort listener of a fetch under way) retires with `reason`. */
  private async drop(key: string, reason: RetireReason): Promise<void> {
    this.evictedRuns.get(key)?.drop(reason)
    const entry = this.lru.peek(key)
    this.ending = reason
    try {
      this.lru.delete(key)
    } finally {
      this.ending = null
    }
    if (entry) await this.retiring.get(entry)
  }

  private retire(entry: CacheEntry, reason: RetireReason): void {
    if (this.retiring.has(entry)) return
    const p = this.opts.retire(entry, reason).finally(() => this.retiring.delete(entry))
    this.retiring.set(entry, p)
  }

  private index(taskId: string | null, key: string): void {
    if (taskId === null) return
    let keys = this.byTask.get(taskId)
    if (!keys) this.byTask.set(taskId, (keys = new Set()))
    keys.add(key)
  }

  private unindex(taskId: string | null, key: string): void {
    if (taskId === null) return
    const keys = this.byTask.get(taskId)
    keys?.delete(key)
    if (keys?.size === 0) this.byTask.delete(taskId)
  }

  private runFetch(key: string, stale: CacheEntry | undefined, signal: AbortSignal, context: C): Promise<CacheEntry> {
    const waiters: Waiters = { ids: [], count: 0 }
    this.waiting.set(key, waiters)
    this.index(context.taskId, key)
    // lru-cache aborts `signal` when the key is deleted, cleared or evicted while fetching, then
    // disposes nothing under it. A drop (task end, reload, shutdown) cancels the provider request
    // through `cancel`; an eviction (the bound was reached) does not: the calls waiting for this
    // fetch are still served, and the result goes back into the cache when it lands.
    const cancel = new AbortController()
    let produced: CacheEntry | null = null
    let droppedWith: RetireReason | null = null
    let evicted = false
    // Assigned below; the abort listener only fires after that (an eviction comes later).
    let run: Promise<CacheEntry>
    const dropped = (reason: RetireReason): void => {
      if (droppedWith !== null) return
      droppedWith = reason
      cancel.abort()
      if (produced) this.retire(produced, duringFetch(reason))
    }
    signal.addEventListener('abort', () => {
      const reason = this.ending
      if (stale) this.retire(stale, reason ?? 'evicted')
      if (reason !== null) return dropped(reason)
      evicted = true
      // Out of lru-cache now, so a drop of the key reaches it through evictedRuns.
      this.evictedRuns.set(key, { run, waiters, drop: dropped })
      // Landed already (lru-cache has not stored it yet, and now will not): put it back.
      if (produced) queueMicrotask(() => { if (droppedWith === null) this.reinsert(key, produced!, context.taskId, waiters) })
    }, { once: true })
    run = (async () => {
      try {
        const entry = await this.opts.load(key, context, stale, cancel.signal, waiters)
        if (droppedWith !== null) {
          this.retire(entry, duringFetch(droppedWith))
          throw new Error('the credential was dropped while it was being fetched')
        }
        // The refreshed entry took over the old current issuance: replacing must not retire it.
        if (stale && entry.previous === stale.current) stale.current.carried = true
        if (evicted) this.reinsert(key, entry, context.taskId, waiters)
        else produced = entry
        return entry
      } catch (err) {
        if (!stale && droppedWith === null) this.unindex(context.taskId, key)
        throw err
      } finally {
        if (this.waiting.get(key) === waiters) this.waiting.delete(key)
        if (this.evictedRuns.get(key)?.waiters === waiters) this.evictedRuns.delete(key)
      }
    })()
    this.loading.add(run)
    void run.catch(() => {}).finally(() => this.loading.delete(run))
    return run
  }

  /**
   * An entry whose fetch was evicted while under way: cached again (evicting the least recently
   * used entry instead), unless the key has been filled since, then retired.
   */
  private reinsert(key: string, entry: CacheEntry, taskId: string | null, own: Waiters): void {
    const current = this.lru.peek(key)
    if (current === entry) return
    const other = this.waiting.get(key)
    if (current === undefined && (other === undefined || other === own)) {
      this.lru.set(key, entry)
      return
    }
    this.unindex(taskId, key)
    this.retire(entry, 'evicted')
  }
}

/** lru-cache's fetch options are a conditional type TypeScript cannot resolve for a generic C. */
function withContext<C>(o: LRUCache.FetchOptionsWithContext<string, CacheEntry, C>): never {
  return o as never
}

/** A task end that caught a fetch under way reads as such in the record. */
function duringFetch(reason: RetireReason): RetireReason {
  return reason === 'task_deleted' || reason === 'task_expired' ? 'task_ended_during_fetch' : reason
}
