// JSON text in ASCII only: characters past U+007F are written as \uXXXX escapes (RFC 8259
// section 7), so the text parses to the same value and can be written out byte for byte as
// Latin-1, a plain copy of each character (SyncWriter.asciiLine), cheaper than UTF-8 encoding.

const NON_ASCII = /[\u0080-\uffff]/g;
const HAS_NON_ASCII = /[\u0080-\uffff]/;

const escape = (c: string): string => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0');

/** JSON.stringify(v), with every non-ASCII character escaped. */
export function asciiJson(v: unknown): string | undefined {
  const s = JSON.stringify(v);
  return s === undefined || !HAS_NON_ASCII.test(s) ? s : s.replace(NON_ASCII, escape);
}

/** A JSON string literal of `s` in ASCII only. */
export function jsonString(s: string): string {
  return asciiJson(s)!;
}
