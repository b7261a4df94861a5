// Opens the record sink a config asks for (destination, checkpoint cadence, signing key) and the
// JWKS route that publishes the checkpoint key next to the `jwt` provider's keys, so one
// /.well-known/jwks.json on the admin listener serves every key toolgate signs with.

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { JWK } from 'jose'
import type { ResolvedConfig } from '../config/resolved.ts'
import { handleJwks } from '../admin/jwks.ts'
import { openRecordSink, type RecordSink } from './records.ts'
import { generateSigner, signerFromFile } from './signer.ts'

export function openConfiguredRecords(config: ResolvedConfig): RecordSink {
  const c = config.logging.checkpoints
  const signer = c.key_file !== undefined ? signerFromFile(c.key_file) : generateSigner()
  return openRecordSink(config.logging.records, { signer, checkpointIntervalS: c.interval_s, checkpointEveryRecords: c.every_records })
}

/** JWKS of the record checkpoint key plus whatever else toolgate signs with (credential keys). */
export function jwksRoute(records: RecordSink, others: () => JWK[]): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> {
  return (req, res, url) => handleJwks(req, res, url, { jwks: () => ({ keys: [...others(), ...(records.publicJwk ? [{ ...records.publicJwk }] : [])] }) })
}
