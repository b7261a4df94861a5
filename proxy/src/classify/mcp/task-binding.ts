// The MCP tasks extension (tasks/get, tasks/result, tasks/update, tasks/cancel, tasks/list): a
// server runs a task-augmented request (params.task) in the background and answers with a task id
// that later requests refer to. Those ids are the server's, shared by everyone who can reach it,
// so without a binding an agent could poll or steer a task that another toolgate task (or another
// agent) started. toolgate binds each MCP task id it sees created in a response to the toolgate
// task of the request that created it; a tasks/* request naming a task id is allowed only for a
// task created through this toolgate under the same toolgate task (or, without tasks, under none),
// and only while that toolgate task is alive: once it has ended (and its credentials are revoked)
// its MCP tasks are refused. Liveness is asked of the task registry at each use, so no event
// wiring is needed and a task that expired between two calls is caught. Bounded: the oldest bindings are forgotten past MAX_BOUND.
// When a toolgate task ends, its MCP tasks are handed out once (takeTask) so that toolgate can
// send tasks/cancel for each to the server that owns it (tasks/mcp-cancel.ts), with what that
// needs kept beside the binding (the upstream target, MCP session id, protocol version: never a
// credential, which is looked up at cancel time).

export const MAX_BOUND = 10_000

/** Where (and how) the request that created an MCP task was sent: a later tasks/cancel goes the same way. */
export interface CancelTarget {
  /** scheme://host:port of the tool's upstream. */
  origin: string
  /** The endpoint path (and query) the creating request went to. */
  path: string
  /** The Host header the creating request carried. */
  host: string
  /** Mcp-Session-Id of the creating request (revisions with sessions), or null. */
  sessionId: string | null
  /** MCP-Protocol-Version header of the creating request, or null. */
  protocolVersion: string | null
  /** params._meta protocol version of the creating message (2026-07-28 stateless), or null. */
  metaVersion: string | null
  /** The creating request carried Mcp-Method (2026-07-28): the cancel carries its own. */
  mirroredHeaders: boolean
}

export interface BoundMcpTask {
  tool: string
  mcpTaskId: string
  target: CancelTarget | null
}

interface Binding extends BoundMcpTask {
  toolgateTask: string | null
  /** Handed out for cancelling once its toolgate task ended. */
  taken: boolean
}

export class McpTaskBinding {
  private readonly bound = new Map<string, Binding>()

  private key(tool: string, mcpTaskId: string): string {
    return `${tool}\u0000${mcpTaskId}`
  }

  bind(tool: string, mcpTaskId: string, toolgateTask: string | null, target: CancelTarget | null = null): void {
    const key = this.key(tool, mcpTaskId)
    if (this.bound.has(key)) return // the first binding stands: a later response cannot move a task
    if (this.bound.size >= MAX_BOUND) this.bound.delete(this.bound.keys().next().value!)
    this.bound.set(key, { toolgateTask, tool, mcpTaskId, target, taken: false })
  }

  /**
   * The MCP tasks of a toolgate task not handed out before (each at most once), to cancel when it
   * ends; the bindings stay, so later tasks/* requests for them are still refused as ended.
   */
  takeTask(toolgateTask: string): BoundMcpTask[] {
    const out: BoundMcpTask[] = []
    for (const b of this.bound.values()) {
      if (b.toolgateTask !== toolgateTask || b.taken) continue
      b.taken = true
      out.push({ tool: b.tool, mcpTaskId: b.mcpTaskId, target: b.target })
    }
    return out
  }

  /** Why a tasks/* request for mcpTaskId is refused under toolgateTask, or null when allowed. */
  refusal(tool: string, mcpTaskId: string, toolgateTask: string | null, alive: (toolgateTask: string) => boolean): string | null {
    const b = this.bound.get(this.key(tool, mcpTaskId))
    const shown = JSON.stringify(mcpTaskId.slice(0, 80))
    if (b === undefined) return `MCP task ${shown} was not created through toolgate`
    if (b.toolgateTask !== toolgateTask) return `MCP task ${shown} belongs to another toolgate task`
    if (b.toolgateTask !== null && !alive(b.toolgateTask)) return `MCP task ${shown} belongs to a toolgate task that has ended`
    return null
  }
}

/** The task id a result creates (CreateTaskResult: result.task.taskId), or null. */
export function createdTaskId(result: unknown): string | null {
  if (result === null || typeof result !== 'object') return null
  const task = (result as Record<string, unknown>)['task']
  if (task === null || typeof task !== 'object') return null
  const id = (task as Record<string, unknown>)['taskId']
  return typeof id === 'string' && id.length > 0 && id.length <= 256 ? id : null
}
