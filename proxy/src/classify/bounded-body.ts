// Reads a request body into memory up to a bound, for the stages that must see every byte before
// deciding (MCP inspection, the digest of a call held for approval). Larger bodies are not read
// further: the caller refuses them, so memory stays bounded whatever the agent sends.

/** The whole body, or null as soon as it exceeds max bytes (the rest is left unread). */
export async function readBounded(body: AsyncIterable<Buffer>, max: number): Promise<Buffer | null> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.length
    if (size > max) return null
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
