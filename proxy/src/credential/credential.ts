// What credential/ hands to forward/ for one allowed call. The secret stays inside this value and
// the header it is injected into; records and metrics only ever see the public fields.

export interface Credential {
  provider: string
  /** Id of this issuance (shared by every call served from the same cached token). */
  issuanceId: string
  /** Epoch milliseconds. */
  expiresAt: number
  /** Header name and value to set on the upstream request (value holds the secret). */
  header: string
  value: string
}

/** Public view of a credential for records. */
export interface CredentialRecord {
  provider: string
  issuance_id: string
  expires_at: string
}
