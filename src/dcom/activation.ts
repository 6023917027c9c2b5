// DCOM activation (MS-DCOM 3.1.2.5.2.3): the Activation Properties BLOB travels in
// MInterfacePointer.abData as an OBJREF_CUSTOM (MS-DCOM 2.2.18.6) whose clsid is
// CLSID_ActivationPropertiesIn (requests) or CLSID_ActivationPropertiesOut (responses) and whose
// pObjectData is the BLOB (MS-DCOM 2.2.22).
import { NdrDecodeError } from '../base/errors';
import { ObjrefError } from '../base/errors';
import {
  CLSID_ActivationPropertiesIn,
  CLSID_ActivationPropertiesOut,
  decodeActivationProperties,
  encodeActivationProperties,
  type ActivationHeaderInput,
  type ActivationProperty,
  type DecodedActivationProperties,
} from './activation-props';
import { OBJREF_CUSTOM, decodeObjref, encodeObjref, type ObjrefCustom } from './objref';

export * from './activation-props';
export * from './interfaces/activation';

/** IID of the OBJREF_CUSTOM carrying activation properties: IActivationPropertiesIn/Out (MS-DCOM 3.1.2.5.2.3.2). */
export const IID_IActivationPropertiesIn = '000001a2-0000-0000-c000-000000000046';
export const IID_IActivationPropertiesOut = '000001a3-0000-0000-c000-000000000046';

export interface MInterfacePointerValue {
  ulCntData: number;
  abData: Buffer;
}

export interface ActivationBlobRef extends DecodedActivationProperties {
  /** The OBJREF_CUSTOM around the BLOB (pObjectData included). */
  objref: ObjrefCustom & { trailing?: Buffer };
}

/**
 * Decodes the activation properties in an MInterfacePointer (pActProperties / ppActProperties).
 * Throws ObjrefError (abData not an OBJREF_CUSTOM of an activation-properties class) or NdrDecodeError.
 */
export function decodeActivationInterfacePointer(mip: MInterfacePointerValue, opts: { trace?: boolean; lenient?: boolean } = {}): ActivationBlobRef {
  const o = decodeObjref(mip.abData);
  if (o.flags !== OBJREF_CUSTOM) throw new ObjrefError(4, `flags ${o.flags}: not OBJREF_CUSTOM`);
  const clsid = o.clsid.toLowerCase();
  if (clsid !== CLSID_ActivationPropertiesIn && clsid !== CLSID_ActivationPropertiesOut) {
    throw new ObjrefError(24, `clsid ${o.clsid}: not CLSID_ActivationPropertiesIn/Out`);
  }
  try {
    return { ...decodeActivationProperties(o.pObjectData, opts), objref: o };
  } catch (e) {
    // Offsets relative to abData: pObjectData follows the 48-octet OBJREF_CUSTOM header.
    if (e instanceof NdrDecodeError) throw new NdrDecodeError(e.offset + 48, e.field, e.what);
    throw e;
  }
}

/**
 * Builds an MInterfacePointer carrying activation properties. `direction` picks the OBJREF_CUSTOM
 * iid/clsid (MS-DCOM 3.1.2.5.2.3.2: In for requests, Out for responses); `objref` overrides its fields
 * (e.g. a decoded one's `reserved`, for byte-identical re-encoding).
 */
export function encodeActivationInterfacePointer(
  direction: 'in' | 'out',
  header: ActivationHeaderInput,
  props: ActivationProperty[],
  objref: Partial<ObjrefCustom> & { trailing?: Buffer } = {},
): MInterfacePointerValue {
  const blob = encodeActivationProperties(header, props);
  const o: ObjrefCustom & { trailing?: Buffer } = {
    flags: OBJREF_CUSTOM,
    iid: direction === 'in' ? IID_IActivationPropertiesIn : IID_IActivationPropertiesOut,
    clsid: direction === 'in' ? CLSID_ActivationPropertiesIn : CLSID_ActivationPropertiesOut,
    cbExtension: 0,
    reserved: 0,
    ...objref,
    pObjectData: blob,
  };
  const abData = encodeObjref(o);
  return { ulCntData: abData.length, abData };
}
