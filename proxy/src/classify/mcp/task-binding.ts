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
// Not done: toolgate does not itself send tasks/cancel to the server when a task ends.

export const MAX_BOUND = 10_000

interface Binding {
  toolgateTask: string | null
}

export class McpTaskBinding {
  private readonly bound = new Map<string, Binding>()

  private key(tool: string, mcpTaskId: string): string {
    return `${tool}\u0000${mcpTaskId}`
  }

  bind(tool: string, mcpTaskId: string, toolgateTask: string | null): void {
    const key = this.key(tool, mcpTaskId)
    if (this.bound.has(key)) return // the first binding stands: a later response cannot move a task
    if (this.bound.size >= MAX_BOUND) this.bound.delete(this.bound.keys().next().value!)
    this.bound.set(key, { toolgateTask })
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
