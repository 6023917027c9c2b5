// Numbers the authentication code shares: RPC security providers and levels (MS-RPCE
// 2.2.1.1.7, 2.2.1.1.8) and the status codes an Acceptor's AuthError carries.
import { NTLMSSP_REVISION_W2K3, type NtlmVersion } from './ntlm/messages';

/** RPC_C_AUTHN_* security providers. */
export const RPC_C_AUTHN_NONE = 0;
export const RPC_C_AUTHN_GSS_NEGOTIATE = 9;
export const RPC_C_AUTHN_WINNT = 10;

/** RPC_C_AUTHN_LEVEL_* authentication levels. */
export const RPC_C_AUTHN_LEVEL_DEFAULT = 0;
export const RPC_C_AUTHN_LEVEL_NONE = 1;
export const RPC_C_AUTHN_LEVEL_CONNECT = 2;
export const RPC_C_AUTHN_LEVEL_CALL = 3;
export const RPC_C_AUTHN_LEVEL_PKT = 4;
export const RPC_C_AUTHN_LEVEL_PKT_INTEGRITY = 5;
export const RPC_C_AUTHN_LEVEL_PKT_PRIVACY = 6;

/** STATUS_LOGON_FAILURE (MS-ERREF 2.3.1): unknown user or wrong password. */
export const STATUS_LOGON_FAILURE = 0xc000006d;
/** SEC_E_INVALID_TOKEN (MS-ERREF 2.1): a peer's token could not be parsed or is out of turn. */
export const SEC_E_INVALID_TOKEN = 0x80090308;
/** SEC_E_MESSAGE_ALTERED: a mechListMIC did not verify. */
export const SEC_E_MESSAGE_ALTERED = 0x8009030f;

/** Windows XP SP2's VERSION (5.1 build 2600, NTLM revision 15): this lab's default. */
export const DEFAULT_NTLM_VERSION: NtlmVersion = {
  productMajorVersion: 5,
  productMinorVersion: 1,
  productBuild: 2600,
  ntlmRevisionCurrent: NTLMSSP_REVISION_W2K3,
};
