// binary-parser's package.json "exports" sends ESM imports to dist/esm/binary_parser.mjs, which
// has no .d.mts next to it, so TypeScript (moduleResolution "Bundler") finds no types. Point
// the bare specifier at the declarations the package does ship.
declare module 'binary-parser' {
  export { Parser } from 'binary-parser/dist/binary_parser';
}
