// The exports of a CommonJS package loaded with import(). Node's ESM loader gives its named
// exports plus `default` (= module.exports); esbuild's split bundle (dist/, the image) gives only
// `default`, so a destructured named export was undefined there ("resourceFromAttributes is not
// a function" with telemetry on, the same for @grpc/grpc-js with global rate limits). Reading
// module.exports works in both. Only for CommonJS packages: an ES module's `default` is its
// default export, not its namespace.
export function cjsExports<T extends object>(namespace: T): T {
  const d = (namespace as { default?: unknown }).default
  return typeof d === 'object' && d !== null ? (d as T) : namespace
}
