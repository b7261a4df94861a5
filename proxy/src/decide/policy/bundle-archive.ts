// Reads an OPA bundle archive (.tar.gz) into memory: a map of normalised file paths to bytes.
// Bounded (archive size, file count, total unpacked size, decompression ratio) because a bundle
// server is a remote party. Only regular files are kept; links and devices are refused, and so
// is any path that tries to leave the bundle ("..") or appears twice (ambiguous: refused, not
// guessed).

import { gunzipSync } from 'node:zlib'
import { Parser } from 'tar'
import type { ReadEntry } from 'tar'

export interface ArchiveLimits {
  /** Largest compressed archive accepted. */
  maxArchiveBytes: number
  /** Largest total of unpacked file bytes. */
  maxUnpackedBytes: number
  maxFiles: number
}

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = {
  maxArchiveBytes: 32 * 1024 * 1024,
  maxUnpackedBytes: 128 * 1024 * 1024,
  maxFiles: 4096,
}

export class BundleFormatError extends Error {
  override name = 'BundleFormatError'
}

/** Bundle-relative path without a leading slash ("toolgate/decision.rego", ".manifest"). */
export function normalisePath(raw: string): string {
  const parts = raw.replace(/\\/g, '/').split('/').filter((p) => p !== '' && p !== '.')
  if (parts.some((p) => p === '..')) throw new BundleFormatError(`bundle path ${JSON.stringify(raw)} leaves the bundle`)
  return parts.join('/')
}

export async function readArchive(archive: Uint8Array, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<Map<string, Buffer>> {
  if (archive.byteLength > limits.maxArchiveBytes) {
    throw new BundleFormatError(`bundle archive is ${archive.byteLength} bytes, above the ${limits.maxArchiveBytes} limit`)
  }
  if (archive.byteLength < 2 || archive[0] !== 0x1f || archive[1] !== 0x8b) {
    throw new BundleFormatError('bundle is not a gzip-compressed tar archive')
  }
  // Decompress first (bounded): a truncated or corrupt gzip stream fails here with a clear error.
  let tarBytes: Buffer
  try {
    tarBytes = gunzipSync(archive, { maxOutputLength: limits.maxUnpackedBytes + limits.maxFiles * 1024 })
  } catch (err) {
    throw new BundleFormatError(`bundle archive cannot be decompressed: ${(err as Error).message}`)
  }
  const files = new Map<string, Buffer>()
  let unpacked = 0
  let failure: Error | null = null
  const fail = (err: Error): void => {
    failure ??= err
  }

  await new Promise<void>((resolve) => {
    const parser = new Parser({
      strict: true,
      onReadEntry: (entry: ReadEntry) => {
        if (failure) return entry.resume()
        if (entry.type === 'Directory') return entry.resume()
        if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile') {
          fail(new BundleFormatError(`bundle entry ${JSON.stringify(entry.path)} is a ${entry.type}, not a regular file`))
          return entry.resume()
        }
        let path: string
        try {
          path = normalisePath(entry.path)
        } catch (err) {
          fail(err as Error)
          return entry.resume()
        }
        if (files.has(path)) {
          fail(new BundleFormatError(`bundle contains ${path} twice`))
          return entry.resume()
        }
        if (files.size >= limits.maxFiles) {
          fail(new BundleFormatError(`bundle has more than ${limits.maxFiles} files`))
          return entry.resume()
        }
        const chunks: Buffer[] = []
        entry.on('data', (c: Buffer) => {
          unpacked += c.length
          if (unpacked > limits.maxUnpackedBytes) fail(new BundleFormatError(`bundle unpacks to more than ${limits.maxUnpackedBytes} bytes`))
          else chunks.push(c)
        })
        entry.on('end', () => {
          if (!failure) files.set(path, Buffer.concat(chunks))
        })
      },
    })
    parser.on('error', (err: Error) => {
      fail(new BundleFormatError(`bundle archive is corrupt: ${err.message}`))
      resolve()
    })
    parser.on('warn', (_code: string, message: string) => fail(new BundleFormatError(`bundle archive is corrupt: ${message}`)))
    parser.on('close', () => resolve())
    parser.on('end', () => resolve())
    parser.on('abort', () => resolve())
    parser.end(tarBytes)
  })
  if (failure) throw failure
  if (files.size === 0) throw new BundleFormatError('bundle archive contains no files')
  return files
}
