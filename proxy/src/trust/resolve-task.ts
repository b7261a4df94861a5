// The one place the pipeline turns a call's Txn-Token into its task: a verified grant sets
// call.taskId to the grant's task; anything else sets call.taskRefusal, which decide/ turns into a
// deny (stage task) with that precise reason. A call without a Txn-Token is left as it is.

import type { ToolCall } from '../classify/toolcall.ts'
import type { GrantService } from '../pipeline/services.ts'

export async function resolveCallTask(grants: GrantService | null, call: ToolCall, txnToken: string | null): Promise<void> {
  if (txnToken === null) return
  if (call.taskId !== null) {
    call.taskRefusal = 'send either a Txn-Token or a toolgate-task header, not both'
    return
  }
  if (grants === null) {
    call.taskRefusal = 'task grant refused: no task issuers are configured (tasks.issuers)'
    return
  }
  const r = await grants.resolve(txnToken)
  if (r.ok) call.taskId = r.task.id
  else call.taskRefusal = r.reason
}
