// Authenticates a Kubernetes ServiceAccount token with a TokenReview (authentication.k8s.io/v1)
// against the API server, for approvers configured by ServiceAccount
// (approvals.kubernetes.service_accounts). The reviewed token is never logged or returned; a
// failed or slow review refuses (fail closed).

import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { KubeClient, inClusterOptions, type KubeClientOptions } from '../inject/kube-client.ts'
import type { KubernetesApprovers } from '../config/schema.gen.ts'

/** TokenReviews in flight at most: whoever reaches the control listener cannot flood the API server. */
export const MAX_REVIEWS_IN_FLIGHT = 4

export type Reviewed = { ok: true; username: string } | { ok: false; reason: string }

interface TokenReviewStatus {
  status?: { authenticated?: boolean; user?: { username?: string }; audiences?: string[]; error?: string }
}

export class TokenReviewer {
  private readonly client: KubeClient
  private readonly allowed: ReadonlySet<string>
  private readonly audiences: string[] | undefined
  private inFlight = 0

  constructor(c: KubernetesApprovers, configDir: string, client?: KubeClient) {
    this.allowed = new Set(c.service_accounts)
    this.audiences = c.audiences
    if (client) {
      this.client = client
      return
    }
    let o: KubeClientOptions
    if (c.api_server) {
      o = { server: c.api_server }
      if (c.token_file) o.tokenFile = resolve(configDir, c.token_file)
      if (c.ca_file) o.caPem = readFileSync(resolve(configDir, c.ca_file), 'utf8')
    } else {
      o = inClusterOptions()
      if (c.token_file) o.tokenFile = resolve(configDir, c.token_file)
      if (c.ca_file) o.caPem = readFileSync(resolve(configDir, c.ca_file), 'utf8')
    }
    o.timeoutMs = c.timeout_ms ?? 5000
    this.client = new KubeClient(o)
  }

  async review(token: string): Promise<Reviewed> {
    if (this.inFlight >= MAX_REVIEWS_IN_FLIGHT) return { ok: false, reason: `too many TokenReviews in flight (at most ${MAX_REVIEWS_IN_FLIGHT}); try again` }
    this.inFlight++
    try {
      return await this.reviewNow(token)
    } finally {
      this.inFlight--
    }
  }

  private async reviewNow(token: string): Promise<Reviewed> {
    let r: TokenReviewStatus
    try {
      r = await this.client.call<TokenReviewStatus>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, ...(this.audiences ? { audiences: this.audiences } : {}) },
      })
    } catch (err) {
      // KubeApiError messages carry status and the API's message, never the reviewed token.
      return { ok: false, reason: `TokenReview failed (fail closed): ${String((err as Error).message).slice(0, 200)}` }
    }
    if (r.status?.authenticated !== true) return { ok: false, reason: 'the Kubernetes API server did not authenticate this token' }
    const username = r.status.user?.username ?? ''
    if (!this.allowed.has(username)) return { ok: false, reason: `${username.slice(0, 300)} is not an approver (approvals.kubernetes.service_accounts)` }
    return { ok: true, username }
  }

  close(): Promise<void> {
    return this.client.close()
  }
}
