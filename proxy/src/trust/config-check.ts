// Cross-field rules of the trust settings (tasks.issuers, approvals.approvers) that JSON Schema
// cannot express well: each key source names exactly one of jwks_url / public_key_file, names are
// unique, and an issuer or approver needs the audience it is checked against.

import type { PathSegment } from '../config/yaml-source.ts'
import { arr, obj, type Obj } from '../config/raw-value.ts'

type Add = (path: PathSegment[], message: string, at?: 'key' | 'value') => void

function keySources(section: string, list: string, entries: unknown[], audience: unknown, add: Add): void {
  const names = new Set<string>()
  entries.forEach((e, i) => {
    const o = obj(e)
    if (!o) return
    const hasUrl = o.jwks_url !== undefined
    const hasFile = o.public_key_file !== undefined
    if (hasUrl === hasFile) add([section, list, i], 'give exactly one of jwks_url (fetched, rotates) or public_key_file (mounted)', 'key')
    if (typeof o.name === 'string') {
      if (names.has(o.name)) add([section, list, i, 'name'], `duplicate name '${o.name}'`)
      names.add(o.name)
    }
  })
  if (entries.length > 0 && typeof audience !== 'string') add([section], `${section}.${list} needs ${section}.audience (the aud their tokens must carry)`, 'key')
}

export function trustFindings(root: Obj, add: Add): void {
  const tasks = obj(root.tasks)
  if (tasks) keySources('tasks', 'issuers', arr(tasks.issuers), tasks.audience, add)
  const approvals = obj(root.approvals)
  if (approvals) keySources('approvals', 'approvers', arr(approvals.approvers), approvals.audience, add)
  // One audience for both would let a token minted for one purpose be accepted for the other
  // (an approver's token ending tasks, an issuer's control token approving calls).
  if (typeof tasks?.audience === 'string' && tasks.audience === approvals?.audience) {
    add(['approvals', 'audience'], 'approvals.audience must differ from tasks.audience: a token for one must never be accepted as the other')
  }
}
