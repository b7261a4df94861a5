// GENERATED from config/toolgate.schema.json by scripts/gen-config-types.js. Do not edit.
/* eslint-disable */

/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Mode".
 */
export type Mode = 'enforce' | 'report'
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Port".
 */
export type Port = number
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "CredentialProvider".
 */
export type CredentialProvider = StaticProvider | OAuth2ClientCredentialsProvider | TokenExchangeProvider | JwtProvider
/**
 * Lower-case letters, digits, '-' and '_', at most 64 characters.
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Name".
 */
export type Name = string
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Access".
 */
export type Access = 'read' | 'write' | 'execute' | 'delegate'
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Classification".
 */
export type Classification = 'public' | 'internal' | 'confidential' | 'restricted'
/**
 * An HTTP method in upper case, or * for any.
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Method".
 */
export type Method = string
/**
 * Path pattern: '*' matches one segment, '**' any number of segments, '{name}' captures one segment.
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "PathPattern".
 */
export type PathPattern = string

/**
 * toolgate.yaml: the sidecar's listeners, limits, policy bundle, credential providers and tool allowlist. This schema is the source of truth; proxy/src/config/schema.gen.ts is generated from it.
 */
export interface ToolgateConfig {
  /**
   * Config format version: always 1.
   */
  version: 1
  mode?: Mode
  listeners?: Listeners
  limits?: Limits
  timeouts?: Timeouts
  logging?: Logging
  policy?: Policy
  agent?: Agent
  tls?: Tls
  transparent?: Transparent
  /**
   * Credential providers by name; tools refer to them with credential.provider.
   */
  credentials?: {
    [k: string]: CredentialProvider
  }
  tasks?: Tasks
  approvals?: Approvals
  telemetry?: Telemetry
  rate_limits?: RateLimits
  hardening?: Hardening
  /**
   * The allowlist: every outbound call must match one of these tools, or it is denied.
   */
  tools: Tool[]
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Listeners".
 */
export interface Listeners {
  proxy?: Listener
  admin?: Listener
  transparent_http?: Listener
  transparent_tls?: Listener
  metrics?: Listener
  control?: Listener
}
/**
 * A listening address.
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Listener".
 */
export interface Listener {
  /**
   * Interface address to bind (IP literal or localhost).
   */
  host?: string
  /**
   * 0 picks a free port (tests).
   */
  port?: number
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Limits".
 */
export interface Limits {
  /**
   * Request header block size limit (default 16384).
   */
  max_header_bytes?: number
  /**
   * Request body limit (default 10 MiB); larger bodies get 413.
   */
  max_request_body_bytes?: number
  /**
   * Response body limit (default 100 MiB); a larger response is cut and the connection reset.
   */
  max_response_body_bytes?: number
  /**
   * Largest body toolgate parses for a decision (MCP JSON-RPC); default 1 MiB.
   */
  max_inspected_body_bytes?: number
  /**
   * Concurrent client connections (default 4096).
   */
  max_connections?: number
  /**
   * Upstream keep-alive pool size per origin (default 128).
   */
  max_upstream_connections_per_origin?: number
  /**
   * Most JSON-RPC messages in one MCP request (a batch); a larger batch is refused before any is decided (default 16).
   */
  max_batch_messages?: number
  /**
   * Concurrent streams per intercepted HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS; default 100). Each stream is a request decided on its own.
   */
  max_h2_streams?: number
  /**
   * Time one MCP request may spend deciding its messages; messages not decided within it are denied (default 100).
   */
  mcp_evaluation_budget_ms?: number
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Timeouts".
 */
export interface Timeouts {
  /**
   * Upstream TCP/TLS connect (default 5000).
   */
  connect_ms?: number
  /**
   * Upstream response headers after the request is sent (default 600000: a non-streaming LLM completion or an MCP tool call can take minutes before its first byte; the OpenAI and Anthropic SDKs wait 600 s). A tool's timeouts.response_headers_ms overrides it.
   */
  response_headers_ms?: number
  /**
   * Body inactivity both ways (default 300000: SSE streams, MCP server streams included, can be silent for minutes between events). A tool's timeouts.idle_ms overrides it for its upstream responses.
   */
  idle_ms?: number
  /**
   * Deadline for a whole upstream exchange, request through the last response byte; 0 (default) sets none, since streams (SSE, MCP) may run for hours while sending; idle_ms bounds a dead one. A tool's timeouts.total_ms overrides it.
   */
  total_ms?: number
  /**
   * Client must send its request headers within this, and the client of an opened CONNECT tunnel its first bytes (default 10000). Holds for requests inside intercepted and plain-HTTP tunnels too; open requests are checked once a second, so a request is cut (408, recorded) up to 1 s after the deadline.
   */
  client_headers_ms?: number
  /**
   * Idle client keep-alive connection (default 5000).
   */
  keep_alive_ms?: number
  /**
   * A policy evaluation slower than this is treated as an error and denies (default 100).
   */
  policy_eval_ms?: number
  /**
   * Drain bound on SIGTERM (default 10000).
   */
  shutdown_ms?: number
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Logging".
 */
export interface Logging {
  /**
   * Operational log level (JSON lines on stderr).
   */
  level?: 'debug' | 'info' | 'warn' | 'error'
  /**
   * Where decision records go: 'stdout' or a file path (appended; relative to the config file's directory).
   */
  records?: string
  checkpoints?: RecordCheckpoints
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "RecordCheckpoints".
 */
export interface RecordCheckpoints {
  /**
   * Write a signed checkpoint at least this often while records are written (seconds); 0 = none on a timer.
   */
  interval_s?: number
  /**
   * Write a signed checkpoint after this many records; 0 = none by count.
   */
  every_records?: number
  /**
   * PEM EC P-256 private key that signs checkpoints (relative to the config file's directory). Without it a key is generated at start; either way its public key is in the admin listener's JWKS.
   */
  key_file?: string
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Policy".
 */
export interface Policy {
  /**
   * OPA bundle (.tar.gz): a file path (relative to the config file's directory) or an http(s) URL of a bundle server. Absent: the embedded default bundle.
   */
  bundle?: string
  /**
   * Policy entrypoint whose result is the decision.
   */
  entrypoint?: string
  poll?: PolicyPoll
  signing?: PolicySigning
  /**
   * Extra data merged under data.toolgate_config for the policy (e.g. classification ceilings).
   */
  data?: {
    [k: string]: unknown
  }
}
/**
 * How often a file or http bundle is re-checked for a new revision (jittered between the two delays).
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "PolicyPoll".
 */
export interface PolicyPoll {
  /**
   * Shortest delay between two checks.
   */
  min_delay_ms?: number
  /**
   * Longest delay between two checks (at least min_delay_ms).
   */
  max_delay_ms?: number
}
/**
 * When set, bundles must carry a valid .signatures.json made with this key.
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "PolicySigning".
 */
export interface PolicySigning {
  /**
   * Path (relative to the config file's directory) to a PEM public key, or an HMAC secret file for HS*.
   */
  public_key: string
  key_id?: string
  algorithm?:
    | 'RS256'
    | 'RS384'
    | 'RS512'
    | 'PS256'
    | 'PS384'
    | 'PS512'
    | 'ES256'
    | 'ES384'
    | 'ES512'
    | 'HS256'
    | 'HS384'
    | 'HS512'
  scope?: string
}
/**
 * Workload identity of the agent this sidecar serves. Values default from the environment (POD_NAMESPACE, POD_NAME, SERVICE_ACCOUNT, SPIFFE_ID) that the injector sets.
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Agent".
 */
export interface Agent {
  namespace?: string
  service_account?: string
  pod?: string
  spiffe_id?: string
  labels?: Labels
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Labels".
 */
export interface Labels {
  [k: string]: string
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Tls".
 */
export interface Tls {
  ca?: TlsCa
  /**
   * Extra CAs trusted for upstream TLS, besides the system roots.
   */
  upstream_ca_files?: string[]
  /**
   * Leaf certificates kept for intercepted hosts (default 1000).
   */
  leaf_cache_size?: number
}
/**
 * The per-pod CA that signs the leaf certificates of intercepted TLS.
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "TlsCa".
 */
export interface TlsCa {
  /**
   * Mounted CA certificate (PEM). With key_file; otherwise a CA is generated when interception is first needed (docs/tls.md).
   */
  cert_file?: string
  key_file?: string
  /**
   * Where the CA certificate (never the key) is written for the agent to trust, followed by the public roots (the agent's SSL_CERT_FILE replaces its trust store).
   */
  publish_cert_to?: string
  /**
   * Where a password-less PKCS#12 truststore (the CA plus the public roots, Java trusted-certificate entries) is written, for JAVA_TOOL_OPTIONS -Djavax.net.ssl.trustStore (docs/clients.md).
   */
  publish_truststore_to?: string
  /**
   * Where a wgetrc with ca_certificate = <publish_cert_to> is written, for WGETRC (wget with GnuTLS ignores SSL_CERT_FILE). Needs publish_cert_to.
   */
  publish_wgetrc_to?: string
  validity_hours?: number
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Transparent".
 */
export interface Transparent {
  exclude_cidrs?: string[]
  exclude_ports?: Port[]
  proxy_uid?: number
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "StaticProvider".
 */
export interface StaticProvider {
  type: 'static'
  /**
   * File holding the secret (surrounding whitespace trimmed); re-read when it changes.
   */
  secret_file: string
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "OAuth2ClientCredentialsProvider".
 */
export interface OAuth2ClientCredentialsProvider {
  type: 'oauth2_client_credentials'
  token_url: string
  revocation_url?: string
  client_id: string
  client_secret_file?: string
  /**
   * private_key_jwt client authentication (RFC 7523).
   */
  private_key_file?: string
  key_id?: string
  scopes?: string[]
  ca_file?: string
  /**
   * Bound on one credential fetch including retries, in milliseconds (default 5000). Past it the call is refused with 503.
   */
  timeout_ms?: number
  /**
   * Client authentication at the token endpoint. Default: private_key_jwt when private_key_file is set, else client_secret_basic when client_secret_file is set, else none.
   */
  client_auth?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'
  /**
   * Token endpoint attempts per fetch (retries with exponential backoff and jitter on network errors, 429 and 5xx). Default 3.
   */
  max_attempts?: number
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "TokenExchangeProvider".
 */
export interface TokenExchangeProvider {
  type: 'token_exchange'
  token_url: string
  revocation_url?: string
  client_id: string
  client_secret_file?: string
  /**
   * The pod's projected service-account token, re-read on every exchange.
   */
  subject_token_file: string
  /**
   * Default urn:ietf:params:oauth:token-type:jwt.
   */
  subject_token_type?: string
  /**
   * Token of the agent acting for the subject (re-read on every exchange); the issued token shows the delegation in its act claim.
   */
  actor_token_file?: string
  actor_token_type?: string
  scopes?: string[]
  ca_file?: string
  /**
   * Bound on one credential fetch including retries, in milliseconds (default 5000). Past it the call is refused with 503.
   */
  timeout_ms?: number
  /**
   * Client authentication at the token endpoint. Default: private_key_jwt when private_key_file is set, else client_secret_basic when client_secret_file is set, else none.
   */
  client_auth?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'
  /**
   * Token endpoint attempts per fetch (retries with exponential backoff and jitter on network errors, 429 and 5xx). Default 3.
   */
  max_attempts?: number
  /**
   * private_key_jwt client authentication (RFC 7523).
   */
  private_key_file?: string
  key_id?: string
  /**
   * RFC 8693 requested_token_type (default urn:ietf:params:oauth:token-type:access_token).
   */
  requested_token_type?: string
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "JwtProvider".
 */
export interface JwtProvider {
  type: 'jwt'
  issuer: string
  /**
   * Token lifetime (default 300), never past the task's end.
   */
  ttl_s?: number
  /**
   * Signing key rotation period (default 3600). Retired keys stay in the JWKS until tokens they signed have expired.
   */
  key_rotation_s?: number
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Tasks".
 */
export interface Tasks {
  /**
   * When true, calls without a task (Txn-Token or toolgate-task header) are denied.
   */
  required?: boolean
  /**
   * TTL of a task that does not ask for one, in seconds.
   */
  default_ttl_s?: number
  /**
   * Longest TTL an agent-declared task may ask for; a larger ttl_s is refused with 400.
   */
  max_ttl_s?: number
  /**
   * Open agent-declared tasks at most (tasks.agent_declared); one more is refused with 429. Grants count against their issuer's max_tasks.
   */
  max_tasks?: number
  /**
   * This trust domain: the `aud` every task grant (and every task issuer's control token) must carry, so a grant for another trust domain is refused.
   */
  audience?: string
  /**
   * Allow unsigned POST /v1/tasks (agent-declared tasks). Off by default: the agent shares the pod, so it could grant itself any task. The policy sees input.task.source = "agent"; the default policy never lets such a task unlock write, execute or delegate.
   */
  agent_declared?: boolean
  /**
   * Trusted task issuers (signed Txn-Token grants).
   *
   * @maxItems 16
   */
  issuers?:
    | []
    | [TaskIssuer]
    | [TaskIssuer, TaskIssuer]
    | [TaskIssuer, TaskIssuer, TaskIssuer]
    | [TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer]
    | [TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer]
    | [TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer]
    | [TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer]
    | [TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer]
    | [TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer, TaskIssuer]
    | [
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer
      ]
    | [
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer
      ]
    | [
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer
      ]
    | [
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer
      ]
    | [
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer
      ]
    | [
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer
      ]
    | [
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer,
        TaskIssuer
      ]
}
/**
 * A platform component (orchestrator, job dispatcher) whose signed task grants (Txn-Token) open tasks.
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "TaskIssuer".
 */
export interface TaskIssuer {
  name: Name
  /**
   * The exact `iss` claim this issuer signs with.
   */
  issuer: string
  /**
   * JWKS URL: fetched on first use, cached, refetched on an unknown `kid` (key rotation), at most once per jwks_min_refresh_s.
   */
  jwks_url?: string
  /**
   * A mounted public key instead of a JWKS URL: PEM (SPKI), a JWK or a JWKS (JSON). Relative to the config file.
   */
  public_key_file?: string
  /**
   * Accepted signature algorithms (asymmetric only: HS* and none are never accepted). Default: all listed here.
   *
   * @minItems 1
   */
  algorithms?: [
    'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519',
    ...('RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519')[]
  ]
  /**
   * Least time between two JWKS fetches triggered by an unknown kid.
   */
  jwks_min_refresh_s?: number
  /**
   * Timeout of one JWKS fetch.
   */
  jwks_timeout_ms?: number
  /**
   * Open tasks from this issuer at most (its quota); one more grant is refused.
   */
  max_tasks?: number
  /**
   * Longest grant lifetime (exp - iat) accepted from this issuer.
   */
  max_ttl_s?: number
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Approvals".
 */
export interface Approvals {
  /**
   * How long a call is held waiting for a decision; then it is denied.
   */
  timeout_ms?: number
  /**
   * Calls held for approval at most; one more is denied at once.
   */
  max_pending?: number
  /**
   * Optional URL that receives a JSON POST for each approval request (fire and forget, 5 s timeout).
   */
  webhook?: string
  /**
   * The `aud` approver tokens and signed approval decisions must carry.
   */
  audience?: string
  /**
   * Identity providers of approvers (bearer JWT or signed decision).
   *
   * @maxItems 16
   */
  approvers?:
    | []
    | [Approver]
    | [Approver, Approver]
    | [Approver, Approver, Approver]
    | [Approver, Approver, Approver, Approver]
    | [Approver, Approver, Approver, Approver, Approver]
    | [Approver, Approver, Approver, Approver, Approver, Approver]
    | [Approver, Approver, Approver, Approver, Approver, Approver, Approver]
    | [Approver, Approver, Approver, Approver, Approver, Approver, Approver, Approver]
    | [Approver, Approver, Approver, Approver, Approver, Approver, Approver, Approver, Approver]
    | [Approver, Approver, Approver, Approver, Approver, Approver, Approver, Approver, Approver, Approver]
    | [Approver, Approver, Approver, Approver, Approver, Approver, Approver, Approver, Approver, Approver, Approver]
    | [
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver
      ]
    | [
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver
      ]
    | [
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver
      ]
    | [
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver
      ]
    | [
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver,
        Approver
      ]
  kubernetes?: KubernetesApprovers
}
/**
 * An identity provider whose tokens authenticate approvers (bearer JWT) and sign approval decisions.
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Approver".
 */
export interface Approver {
  name: Name
  /**
   * The exact `iss` claim this issuer signs with.
   */
  issuer: string
  /**
   * JWKS URL: fetched on first use, cached, refetched on an unknown `kid` (key rotation), at most once per jwks_min_refresh_s.
   */
  jwks_url?: string
  /**
   * A mounted public key instead of a JWKS URL: PEM (SPKI), a JWK or a JWKS (JSON). Relative to the config file.
   */
  public_key_file?: string
  /**
   * Accepted signature algorithms (asymmetric only: HS* and none are never accepted). Default: all listed here.
   *
   * @minItems 1
   */
  algorithms?: [
    'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519',
    ...('RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'Ed25519')[]
  ]
  /**
   * Least time between two JWKS fetches triggered by an unknown kid.
   */
  jwks_min_refresh_s?: number
  /**
   * Timeout of one JWKS fetch.
   */
  jwks_timeout_ms?: number
  /**
   * Claims an approver token must carry: the claim equals the value, or is an array containing it (e.g. groups: toolgate-approvers).
   */
  claims?: {
    [k: string]: string
  }
}
/**
 * Approvers authenticated by their Kubernetes ServiceAccount token, checked with a TokenReview.
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "KubernetesApprovers".
 */
export interface KubernetesApprovers {
  /**
   * API server URL; default: in-cluster (KUBERNETES_SERVICE_HOST).
   */
  api_server?: string
  /**
   * CA of the API server (default: the mounted service-account ca.crt).
   */
  ca_file?: string
  /**
   * toolgate's own token for the TokenReview call (default: the mounted service-account token).
   */
  token_file?: string
  /**
   * Audiences the approver token must be valid for (TokenReview spec.audiences).
   *
   * @maxItems 8
   */
  audiences?:
    | []
    | [string]
    | [string, string]
    | [string, string, string]
    | [string, string, string, string]
    | [string, string, string, string, string]
    | [string, string, string, string, string, string]
    | [string, string, string, string, string, string, string]
    | [string, string, string, string, string, string, string, string]
  /**
   * Usernames allowed to approve (system:serviceaccount:<namespace>:<name>).
   *
   * @minItems 1
   * @maxItems 64
   */
  service_accounts: [string, ...string[]]
  timeout_ms?: number
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Telemetry".
 */
export interface Telemetry {
  /**
   * service.name resource attribute of spans and logs.
   */
  service_name?: string
  traces?: TelemetryTraces
  logs?: TelemetryLogs
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "TelemetryTraces".
 */
export interface TelemetryTraces {
  /**
   * OTLP/HTTP (protobuf) traces endpoint URL, e.g. http://otel-collector:4318/v1/traces.
   */
  endpoint: string
  /**
   * Fraction of calls traced when the agent sent no sampled trace context (trace id ratio).
   */
  sample_ratio?: number
  /**
   * Follow the sampled flag of the agent's traceparent; false: sample_ratio decides every call.
   */
  parent_based?: boolean
  /**
   * Spans waiting for export at most; more are dropped, never blocking a call.
   */
  max_queue?: number
  /**
   * Deadline of one export request.
   */
  timeout_ms?: number
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "TelemetryLogs".
 */
export interface TelemetryLogs {
  /**
   * OTLP/HTTP (protobuf) logs endpoint URL, e.g. http://otel-collector:4318/v1/logs.
   */
  endpoint: string
  /**
   * Records waiting for export at most; more are dropped (counted in toolgate_otlp_log_records_dropped_total), never blocking a call.
   */
  max_queue?: number
  /**
   * Records per export request at most (each batch is encoded in one go on the event loop: small batches keep that pause short).
   */
  max_batch?: number
  /**
   * Export at least this often while records wait.
   */
  interval_ms?: number
  /**
   * Deadline of one export request.
   */
  timeout_ms?: number
  /**
   * true: records go only to OTLP (no stdout or file stream, so no hash chain); false: both.
   */
  replace_records?: boolean
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "RateLimits".
 */
export interface RateLimits {
  /**
   * The limits; a call is checked against every limit whose selector matches it and must have a token in each.
   *
   * @maxItems 256
   */
  limits?: RateLimit[]
  /**
   * Most local buckets kept (one per limit and key); the least recently used is dropped first, and an idle bucket is dropped once it would be full again.
   */
  max_buckets?: number
  service?: RateLimitService
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "RateLimit".
 */
export interface RateLimit {
  name: Name
  tool?: Name
  /**
   * Only calls that matched this route of the tool (its name, or its path pattern as written); needs tool.
   */
  route?: string
  /**
   * Only MCP tools/call messages calling this tool name.
   */
  mcp_tool?: string
  /**
   * What gets its own bucket: tool (one per tool), route (one per tool and route), task (one per task id; calls without a task share one), agent (one per workload identity).
   */
  per?: 'tool' | 'route' | 'task' | 'agent'
  /**
   * Calls allowed per period (the refill rate of the bucket).
   */
  requests: number
  /**
   * Length of the period in seconds.
   */
  period_s?: number
  /**
   * Bucket size: calls allowed at once after a quiet time. Default: requests.
   */
  burst?: number
  /**
   * local: counted in this sidecar; global: counted by the rate limit service, shared by every sidecar that uses it.
   */
  scope?: 'local' | 'global'
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "RateLimitService".
 */
export interface RateLimitService {
  /**
   * host:port of the gRPC rate limit service (plaintext h2c).
   */
  address: string
  /**
   * Domain sent with every request; the service's config must define it.
   */
  domain?: string
  /**
   * Deadline of one ShouldRateLimit call.
   */
  timeout_ms?: number
  /**
   * When the service cannot answer: deny (fail closed, 503) or allow (counted in metrics and recorded).
   */
  failure_mode?: 'deny' | 'allow'
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Hardening".
 */
export interface Hardening {
  /**
   * Method and path override hints removed from every forwarded request. Each list replaces its default.
   */
  override_hints?: {
    /**
     * Header names removed (case-insensitive). Default: X-HTTP-Method-Override, X-HTTP-Method, X-Method-Override, X-Original-Method, X-Original-URL, X-Original-URI, X-Rewrite-URL, X-Forwarded-Prefix, X-Forwarded-URI, X-Forwarded-Path, X-Envoy-Original-Path.
     *
     * @maxItems 256
     */
    headers?: string[]
    /**
     * Query parameter names removed (compared decoded and case-insensitively). Default: _method.
     *
     * @maxItems 256
     */
    query_params?: string[]
  }
  /**
   * The guard that keeps an injected credential from coming back to the agent in a response.
   */
  reflection?: {
    /**
     * redact overwrites every reflected occurrence (same length in bodies, so framing holds); block answers 502 (or cuts a response already under way).
     */
    action?: 'redact' | 'block'
  }
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Tool".
 */
export interface Tool {
  name: Name
  description?: string
  match: ToolMatch
  /**
   * Upstream for the /t/<name>/ route prefix; default scheme://host:port of match.
   */
  base_url?: string
  /**
   * CIDRs this tool may resolve into although they are private, loopback or link-local.
   */
  allow_addresses?: string[]
  mode?: Mode
  /**
   * HTTPS is tunnelled without inspection; decided on the CONNECT target alone; never gets credentials.
   */
  passthrough?: boolean
  access?: Access
  data_classification?: Classification
  labels?: Labels
  routes?: Route[]
  deny?: DenyRule[]
  mcp?: McpRules
  credential?: ToolCredential
  /**
   * Extra CA for this tool's upstream TLS.
   */
  ca_file?: string
  timeouts?: ToolTimeouts
}
/**
 * Which requests belong to this tool: scheme, host (exact, *.domain or an IP literal) and port.
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "ToolMatch".
 */
export interface ToolMatch {
  /**
   * Default https.
   */
  scheme?: 'http' | 'https'
  /**
   * Exact host, '*.domain' for any subdomain, or an IP literal (which also names that address explicitly).
   */
  host: string
  port?: Port
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "Route".
 */
export interface Route {
  name?: string
  /**
   * Default: GET, HEAD.
   *
   * @minItems 1
   */
  methods?: [Method, ...Method[]]
  path: PathPattern
  access?: Access
  data_classification?: Classification
  labels?: Labels
  /**
   * Allow protocol upgrades (e.g. websocket) on this route.
   */
  upgrade?: boolean
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "DenyRule".
 */
export interface DenyRule {
  /**
   * Default: any method.
   *
   * @minItems 1
   */
  methods?: [Method, ...Method[]]
  path: PathPattern
  reason?: string
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "McpRules".
 */
export interface McpRules {
  path?: PathPattern
  /**
   * Globs of MCP tool names that may be listed and called.
   */
  allow_tools?: string[]
  /**
   * Globs of MCP tool names that are never allowed; wins over allow_tools.
   */
  deny_tools?: string[]
  /**
   * Access class per MCP tool glob (default execute).
   */
  tool_access?: {
    [k: string]: Access
  }
  /**
   * JSON-RPC batches: decide_each (default) decides every element; refuse refuses any batch.
   */
  batches?: 'decide_each' | 'refuse'
  /**
   * Which tool names are accepted: mcp (default) the MCP 2025-11-25 rule, 1-128 characters of A-Z a-z 0-9 _ - .; any: up to 256 characters without control or format characters, for servers that use other names.
   */
  tool_names?: 'mcp' | 'any'
  /**
   * Tool definition pinning against rug pulls: a tool whose definition changes after it was seen (or differs from the declared digest) is hidden from lists and its calls refused or flagged.
   */
  pin?: {
    /**
     * What a changed definition does: refuse (default) hides the tool and refuses its calls; flag lets them pass with a record; off disables pinning.
     */
    on_change?: 'refuse' | 'flag' | 'off'
    /**
     * Declared digests per tool name (as recorded by toolgate in report mode, field mcp_pins); tools not listed here are pinned on first sight.
     */
    definitions?: {
      [k: string]: string
    }
  }
}
/**
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "ToolCredential".
 */
export interface ToolCredential {
  provider: Name
  /**
   * Header to inject (default Authorization).
   */
  header?: string
  /**
   * Header value template (default 'Bearer {token}').
   */
  template?: string
  audience?: string
  resource?: string
  scopes?: string[]
}
/**
 * Upstream timeouts for this tool's calls, overriding the global timeouts.* of the same name (docs/config.md 'Timeouts').
 *
 * This interface was referenced by `ToolgateConfig`'s JSON-Schema
 * via the `definition` "ToolTimeouts".
 */
export interface ToolTimeouts {
  /**
   * Upstream response headers after the request is sent.
   */
  response_headers_ms?: number
  /**
   * Upstream response body inactivity.
   */
  idle_ms?: number
  /**
   * Deadline for the whole exchange; 0 sets none.
   */
  total_ms?: number
}
