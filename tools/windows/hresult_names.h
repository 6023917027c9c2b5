// What labserver.exe and labclient.exe have in common, so both print the same things the same way:
// HRESULT names, the event line output, who a call came from, and the embedded type library's
// (un)registration. Windows XP SP2 APIs only (the kit targets _WIN32_WINNT 0x0501).
#ifndef DCOMLAB_HRESULT_NAMES_H
#define DCOMLAB_HRESULT_NAMES_H

#include <windows.h>
#include <ole2.h>
#include <sddl.h>
#include <stdarg.h>
#include <stdio.h>
#include <wchar.h>

// ---------------------------------------------------------------------------------------------
// HRESULT names (values from winerror.h; Win32 codes as HRESULT_FROM_WIN32 makes them, MS-ERREF 2.1.2).
// The ones the XP SP2 callback lab meets first; anything else prints as hex.

struct LabHrName {
    HRESULT hr;
    const wchar_t *name;
};

#define LAB_WIDEN2(s) L##s
#define LAB_WIDEN(s) LAB_WIDEN2(s)
#define LAB_HR(x) { (HRESULT)(x), LAB_WIDEN(#x) }
#define LAB_W32(x) { (HRESULT)(((unsigned long)(x) & 0xFFFFu) | 0x80070000u), LAB_WIDEN(#x) }

static const LabHrName kLabHrNames[] = {
    LAB_HR(S_OK),
    LAB_HR(S_FALSE),
    LAB_HR(E_ACCESSDENIED),            // 0x80070005: the SP2 anonymous-callback failure
    LAB_HR(E_OUTOFMEMORY),             // 0x8007000E: the SP2 firewall failure (OXID unresolvable)
    LAB_HR(E_INVALIDARG),
    LAB_HR(E_NOINTERFACE),
    LAB_HR(E_POINTER),
    LAB_HR(E_FAIL),
    LAB_HR(E_UNEXPECTED),
    LAB_HR(E_NOTIMPL),
    LAB_HR(E_ABORT),
    LAB_HR(REGDB_E_CLASSNOTREG),
    LAB_HR(REGDB_E_IIDNOTREG),
    LAB_HR(CLASS_E_NOAGGREGATION),
    LAB_HR(CLASS_E_CLASSNOTAVAILABLE),
    LAB_HR(CO_E_SERVER_EXEC_FAILURE),
    LAB_HR(CO_E_NOTINITIALIZED),
    LAB_HR(CO_E_RUNAS_LOGON_FAILURE),
    LAB_HR(CO_E_WRONG_SERVER_IDENTITY),
    LAB_HR(CO_E_SERVER_STOPPING),
    LAB_HR(CO_E_OBJNOTCONNECTED),
    LAB_HR(RPC_E_DISCONNECTED),
    LAB_HR(RPC_E_SERVERFAULT),
    LAB_HR(RPC_E_CALL_REJECTED),
    LAB_HR(RPC_E_CALL_CANCELED),
    LAB_HR(RPC_E_TIMEOUT),
    LAB_HR(RPC_E_TOO_LATE),
    LAB_HR(RPC_E_CHANGED_MODE),
    LAB_HR(RPC_E_WRONG_THREAD),
    LAB_HR(RPC_E_INVALID_OBJREF),
    LAB_HR(RPC_E_ACCESS_DENIED),
    LAB_HR(RPC_E_NO_GOOD_SECURITY_PACKAGES),
    LAB_HR(RPC_E_SYS_CALL_FAILED),
    LAB_HR(TYPE_E_LIBNOTREGISTERED),
    LAB_HR(TYPE_E_CANTLOADLIBRARY),
    LAB_HR(TYPE_E_REGISTRYACCESS),
    LAB_HR(TYPE_E_ELEMENTNOTFOUND),
    LAB_W32(RPC_S_SERVER_UNAVAILABLE),  // 0x800706BA: no route to the server's endpoint
    LAB_W32(RPC_S_SERVER_TOO_BUSY),
    LAB_W32(RPC_S_CALL_FAILED),
    LAB_W32(RPC_S_CALL_FAILED_DNE),
    LAB_W32(RPC_S_SEC_PKG_ERROR),
    LAB_W32(RPC_S_UNKNOWN_AUTHN_SERVICE),
    LAB_W32(ERROR_LOGON_FAILURE),
    LAB_W32(ERROR_BAD_NETPATH),
    LAB_W32(ERROR_BAD_IMPERSONATION_LEVEL),
    LAB_W32(ERROR_CANT_OPEN_ANONYMOUS),
    LAB_W32(ERROR_NO_TOKEN),
    LAB_W32(ERROR_NONE_MAPPED),
    LAB_W32(ERROR_FILE_NOT_FOUND),
    LAB_W32(ERROR_PATH_NOT_FOUND),
};

// "E_ACCESSDENIED (0x80070005)", or "0x8007XXXX" when the value is not in the table.
static inline const wchar_t *LabHrText(HRESULT hr, wchar_t *buf, size_t cch) {
    const wchar_t *name = NULL;
    for (size_t i = 0; i < sizeof(kLabHrNames) / sizeof(kLabHrNames[0]); i++) {
        if (kLabHrNames[i].hr == hr) { name = kLabHrNames[i].name; break; }
    }
    if (name) _snwprintf(buf, cch, L"%ls (0x%08lX)", name, (unsigned long)hr);
    else _snwprintf(buf, cch, L"0x%08lX", (unsigned long)hr);
    buf[cch - 1] = 0;
    return buf;
}

// A temporary for one printf argument: LabPrint(L"x: %ls", HR(hr)).
struct LabHr {
    wchar_t text[64];
    explicit LabHr(HRESULT hr) { LabHrText(hr, text, 64); }
};
#define HR(hr) (LabHr(hr).text)

// ---------------------------------------------------------------------------------------------
// Output: one line per event, to the console (as UTF-16, so account names survive) or, when
// redirected, as UTF-8; labserver also appends every line to its log file.

static HANDLE g_labLog = INVALID_HANDLE_VALUE;
static bool g_labTimestamps = false;

static inline void LabWriteUtf8(HANDLE h, const wchar_t *text, int len) {
    char buf[8192];
    int n = WideCharToMultiByte(CP_UTF8, 0, text, len, buf, sizeof(buf), NULL, NULL);
    DWORD done;
    if (n > 0) WriteFile(h, buf, (DWORD)n, &done, NULL);
}

static inline void LabPrint(const wchar_t *fmt, ...) {
    wchar_t line[2048];
    int at = 0;
    if (g_labTimestamps) {
        SYSTEMTIME t;
        GetLocalTime(&t);
        at = _snwprintf(line, 16, L"%02u:%02u:%02u ", t.wHour, t.wMinute, t.wSecond);
        if (at < 0) at = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = _vsnwprintf(line + at, 2040 - at, fmt, ap);
    va_end(ap);
    int len = n < 0 ? 2040 : at + n;
    line[len++] = L'\r';
    line[len++] = L'\n';
    line[len] = 0;
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    DWORD mode, done;
    if (out != NULL && out != INVALID_HANDLE_VALUE) {
        if (GetConsoleMode(out, &mode)) WriteConsoleW(out, line, (DWORD)len, &done, NULL);
        else LabWriteUtf8(out, line, len);
    }
    if (g_labLog != INVALID_HANDLE_VALUE) LabWriteUtf8(g_labLog, line, len);
}

// ---------------------------------------------------------------------------------------------
// Who: "DOMAIN\user" of a token (the SID as text when it has no name here).

static inline void LabTokenUser(HANDLE token, wchar_t *out, size_t cch) {
    union { TOKEN_USER tu; BYTE raw[256]; } info;
    DWORD got = 0;
    if (!GetTokenInformation(token, TokenUser, &info, sizeof(info), &got)) {
        _snwprintf(out, cch, L"(token user unreadable: error %lu)", GetLastError());
        out[cch - 1] = 0;
        return;
    }
    wchar_t name[128], domain[128];
    DWORD cn = 128, cd = 128;
    SID_NAME_USE use;
    if (LookupAccountSidW(NULL, info.tu.User.Sid, name, &cn, domain, &cd, &use)) {
        _snwprintf(out, cch, L"%ls\\%ls", domain, name);
    } else {
        LPWSTR sid = NULL;
        if (ConvertSidToStringSidW(info.tu.User.Sid, &sid)) {
            _snwprintf(out, cch, L"%ls", sid);
            LocalFree(sid);
        } else {
            _snwprintf(out, cch, L"(unnamed SID)");
        }
    }
    out[cch - 1] = 0;
}

static inline const wchar_t *LabAuthnLevelName(DWORD level) {
    static const wchar_t *const names[] = {
        L"default", L"none", L"connect", L"call", L"packet", L"integrity", L"privacy"};
    return level < 7 ? names[level] : L"?";
}

// The identity of the caller of the COM call being served, and how it arrived:
// "LAB\alice (authn connect, token impersonate)". Reads the caller's token while impersonating,
// then reverts: the caller's thread is left as it was.
static inline void LabCallerName(wchar_t *out, size_t cch) {
    DWORD authnLevel = 0;
    RPC_AUTHZ_HANDLE privs = NULL;
    HRESULT qhr = CoQueryClientBlanket(NULL, NULL, NULL, &authnLevel, NULL, &privs, NULL);
    const wchar_t *level = SUCCEEDED(qhr) ? LabAuthnLevelName(authnLevel) : L"?";

    HRESULT ihr = CoImpersonateClient();
    if (FAILED(ihr)) {
        // No token (e.g. an unauthenticated call): the blanket's privileges name is all there is.
        if (SUCCEEDED(qhr) && privs) _snwprintf(out, cch, L"%ls (authn %ls, no token: %ls)", (const wchar_t *)privs, level, HR(ihr));
        else _snwprintf(out, cch, L"(unknown caller, authn %ls, no token: %ls)", level, HR(ihr));
        out[cch - 1] = 0;
        return;
    }
    HANDLE token = NULL;
    BOOL opened = OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, TRUE, &token);
    DWORD err = opened ? 0 : GetLastError();
    CoRevertToSelf();
    if (!opened) {
        _snwprintf(out, cch, L"(caller token not readable: error %lu, authn %ls)", err, level);
        out[cch - 1] = 0;
        return;
    }
    wchar_t who[300];
    LabTokenUser(token, who, 300);
    SECURITY_IMPERSONATION_LEVEL imp = SecurityAnonymous;
    DWORD got = 0;
    static const wchar_t *const impNames[] = {L"anonymous", L"identify", L"impersonate", L"delegate"};
    const wchar_t *impName = L"?";
    if (GetTokenInformation(token, TokenImpersonationLevel, &imp, sizeof(imp), &got) && (unsigned)imp < 4) {
        impName = impNames[imp];
    }
    CloseHandle(token);
    _snwprintf(out, cch, L"%ls (authn %ls, token %ls)", who, level, impName);
    out[cch - 1] = 0;
}

// "DOMAIN\user" of this process.
static inline void LabProcessUser(wchar_t *out, size_t cch) {
    HANDLE token = NULL;
    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)) {
        _snwprintf(out, cch, L"(process token unreadable: error %lu)", GetLastError());
        out[cch - 1] = 0;
        return;
    }
    LabTokenUser(token, out, cch);
    CloseHandle(token);
}

// ---------------------------------------------------------------------------------------------
// The type library is resource 1 of type TYPELIB in each .exe (build.sh embeds lab.tlb). Both
// machines need it registered: the type-library marshaller reads it to build the ICServer proxy
// and the IClientCallback stub on the client, and the reverse on the server.

static inline HRESULT LabRegisterTypeLib(bool reg, wchar_t *path, DWORD cch) {
    if (!GetModuleFileNameW(NULL, path, cch)) return HRESULT_FROM_WIN32(GetLastError());
    path[cch - 1] = 0;
    ITypeLib *tl = NULL;
    HRESULT hr = LoadTypeLibEx(path, reg ? REGKIND_REGISTER : REGKIND_NONE, &tl);
    if (FAILED(hr)) return hr;
    if (!reg) {
        TLIBATTR *attr = NULL;
        hr = tl->GetLibAttr(&attr);
        if (SUCCEEDED(hr)) {
            hr = UnRegisterTypeLib(attr->guid, attr->wMajorVerNum, attr->wMinorVerNum, attr->lcid, attr->syskind);
            tl->ReleaseTLibAttr(attr);
        }
    }
    tl->Release();
    return hr;
}

#endif
