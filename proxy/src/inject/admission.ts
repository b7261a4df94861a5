// AdmissionReview v1 in, AdmissionReview v1 out. Parses and checks the request envelope, runs
// mutatePod on CREATE of a Pod, and answers with a base64 JSONPatch, an allow without patch, or a
// denial carrying the InjectionError message. Anything unexpected in the envelope is answered
// with a 400 by the server (see server.ts), never with "allowed".

import type { Logger } from '../record/log.ts'
import { InjectionError, injectionVerdict, mutatePod, type NamespaceInfo } from './mutate.ts'
import type { Pod } from './pod.ts'
import type { InjectorSettings } from './settings.ts'

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1'
  kind: 'AdmissionReview'
  request?: AdmissionRequest
  response?: AdmissionResponse
}

export interface AdmissionRequest {
  uid: string
  kind: { group: string; version: string; kind: string }
  operation: string
  namespace?: string
  name?: string
  object?: unknown
  dryRun?: boolean
}

export interface AdmissionResponse {
  uid: string
  allowed: boolean
  patchType?: 'JSONPatch'
  patch?: string
  status?: { code: number; message: string }
  warnings?: string[]
}

export class BadReviewError extends Error {
  override name = 'BadReviewError'
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Checks the envelope shape; throws BadReviewError with what is wrong. */
export function parseReview(body: unknown): AdmissionRequest {
  if (!isRecord(body)) throw new BadReviewError('body is not a JSON object')
  if (body['apiVersion'] !== 'admission.k8s.io/v1' || body['kind'] !== 'AdmissionReview') {
    throw new BadReviewError('expected apiVersion admission.k8s.io/v1, kind AdmissionReview')
  }
  const r = body['request']
  if (!isRecord(r) || typeof r['uid'] !== 'string' || !isRecord(r['kind']) || typeof r['operation'] !== 'string') {
    throw new BadReviewError('request.uid, request.kind and request.operation are required')
  }
  return r as unknown as AdmissionRequest
}

/**
 * The response for one request. `namespaceOptedIn`: the request came through the webhook entry
 * whose namespaceSelector requires the opt-in label (the API server evaluated it; the injector
 * needs no read access to namespaces).
 */
export function review(req: AdmissionRequest, settings: InjectorSettings, namespaceOptedIn: boolean, log: Logger): AdmissionResponse {
  const allow: AdmissionResponse = { uid: req.uid, allowed: true }
  const isPod = req.kind.group === '' && req.kind.kind === 'Pod'
  if (!isPod || req.operation !== 'CREATE' || !isRecord(req.object) || !isRecord(req.object['spec'])) return allow
  const pod = req.object as unknown as Pod
  if (!Array.isArray(pod.spec.containers)) return allow
  const nsName = req.namespace ?? pod.metadata?.namespace ?? 'default'
  const ns: NamespaceInfo = { name: nsName }
  if (namespaceOptedIn) ns.labels = { [settings.optIn.namespaceLabel]: settings.optIn.namespaceValue }
  const podName = pod.metadata?.name ?? pod.metadata?.generateName ?? ''
  const verdict = injectionVerdict(pod, ns, settings)
  try {
    const patch = mutatePod(pod, ns, settings)
    log.info('admission', { uid: req.uid, namespace: nsName, pod: podName, injected: patch !== null, reason: verdict.reason, dryRun: req.dryRun === true })
    if (patch === null) return allow
    return { ...allow, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
  } catch (err) {
    if (!(err instanceof InjectionError)) throw err
    log.warn('admission rejected', { uid: req.uid, namespace: nsName, pod: podName, reason: err.message })
    return { uid: req.uid, allowed: false, status: { code: 400, message: `toolgate injector: ${err.message}` } }
  }
}
