// One JSON value as one line. JSON.stringify escapes C0 controls (so no raw LF, CR, VT, FF) but
// leaves NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029) raw, and
// readers that split on Unicode line breaks (Python's str.splitlines, many log shippers and
// editors) would cut a record there. Every line-breaking code point is written as a \u escape,
// which any JSON parser reads back as the same character.

const LINE_BREAKING = /[\u0085\u2028\u2029]/g

/** JSON text with every line-breaking code point escaped (no trailing newline). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value).replace(LINE_BREAKING, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
}

/** jsonText plus the newline that ends the line. */
export function jsonLine(value: unknown): string {
  return jsonText(value) + '\n'
}
