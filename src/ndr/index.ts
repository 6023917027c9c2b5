// NDR 2.0 engine: declarative, typed building blocks mirroring IDL.
//   import * as ndr from '../ndr';
//   const twr_t = ndr.struct({ tower_length: ndr.u32, tower_octet_string: ndr.conformantArray(ndr.u8, { sizeIs: 'tower_length' }) });
// See README-style notes in ./types.ts (wire rules) and ./api.ts (running).

export {
  // primitives
  u8, i8, u16, i16, u32, i32, u64, i64, hyper, f32, f64, boolean, char, wchar, byte,
  enum16, enum32, guid, hresult, errorStatus, contextHandle, empty,
  // descriptor classes (for introspection, e.g. by a dissector)
  NdrType, Primitive, StructType, FixedArrayType, ConformantArrayType, VaryingArrayType,
  ConformantVaryingArrayType, StringType, PointerType, UnionType, UserMarshalType, LazyType,
  TypeSerialization1Type,
} from './types';
export type {
  Infer, AnyType, Fields, StructValue, ArrayValue, UnionValue, UnionDef, Arms, Expr, Layout, Codec,
  ContextHandle, U8Type, ConformantOpts, VaryingOpts, UserMarshalConv, PointerKind,
} from './types';
export {
  struct, fixedArray, conformantArray, varyingArray, conformantVaryingArray,
  string, wstring, varyingString, varyingWstring,
  ref, unique, full, union, encapsulatedUnion, userMarshal, lazy, typeSerialization1,
  params, op, iface, Params, Op,
  encode, decode, encodeParams, decodeParams,
} from './api';
export type { In, Out, ParamsValue, Iface, EncodeOptions, DecodeOptions, Traced } from './api';
export { NdrTrace, DEFAULT_MAX_DEPTH } from './io';
