// labclient.exe: the client side of the XP SP2 callback lab on Windows, the counterpart of
// `dcomlab client`.
//
//   labclient.exe HOST [--cookie N] [--user DOMAIN\NAME --password P] [--imp identify|impersonate]
//   labclient.exe /regtlb | /unregtlb        (un)register the type library here (as Administrator)
//
// It activates CServer on HOST, asks WhoAmI and Ping, then calls ForwardCall with its own
// IClientCallback; the server calls BackwardCall back into this process while ForwardCall runs.
// Exit code 0 when ForwardCall returned S_OK and BackwardCall arrived (with cookie N when --cookie
// is given), else 1; 2 for a usage error.
#include "lab.h"
#include "hresult_names.h"

#include <stdlib.h>

class CCallback : public IClientCallback {
public:
    CCallback() : arrived(false), cookie(0), m_refs(0) { caller[0] = 0; }

    HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void **ppv) {
        if (!ppv) return E_POINTER;
        if (IsEqualIID(riid, IID_IUnknown) || IsEqualIID(riid, IID_IClientCallback)) {
            *ppv = static_cast<IClientCallback *>(this);
            AddRef();
            return S_OK;
        }
        *ppv = NULL;
        return E_NOINTERFACE;
    }
    // A static object: COM's references come and go, the object stays until the process ends.
    ULONG STDMETHODCALLTYPE AddRef() { return (ULONG)InterlockedIncrement(&m_refs); }
    ULONG STDMETHODCALLTYPE Release() { return (ULONG)InterlockedDecrement(&m_refs); }

    HRESULT STDMETHODCALLTYPE BackwardCall(long c) {
        // Only a callback that passed this machine's access checks (SP2's machine-wide limits
        // first) gets here: a refused one never arrives, the server sees E_ACCESSDENIED.
        LabCallerName(caller, 400);
        cookie = c;
        arrived = true;
        LabPrint(L"BackwardCall(%ld) arrived as %ls", c, caller);
        return S_OK;
    }

    bool arrived;
    long cookie;
    wchar_t caller[400];

private:
    LONG m_refs;
};

static CCallback g_callback;

static void Usage() {
    LabPrint(L"usage: labclient.exe HOST [--cookie N] [--user DOMAIN\\NAME --password P] [--imp identify|impersonate]");
    LabPrint(L"       labclient.exe /regtlb | /unregtlb");
}

int wmain(int argc, wchar_t **argv) {
    const wchar_t *host = NULL, *user = NULL, *password = NULL;
    bool haveCookie = false;
    long wantCookie = 0;
    // A typical app's default (and XP's machine default): the server may identify, not impersonate.
    DWORD impLevel = RPC_C_IMP_LEVEL_IDENTIFY;
    for (int i = 1; i < argc; i++) {
        const wchar_t *a = argv[i];
        if (lstrcmpiW(a, L"/regtlb") == 0 || lstrcmpiW(a, L"/unregtlb") == 0) {
            bool reg = lstrcmpiW(a, L"/regtlb") == 0;
            wchar_t path[MAX_PATH];
            HRESULT hr = LabRegisterTypeLib(reg, path, MAX_PATH);
            LabPrint(L"type library DcomLabLib 1.0 in %ls %ls: %ls", path, reg ? L"registered" : L"unregistered", HR(hr));
            if (hr == TYPE_E_REGISTRYACCESS) LabPrint(L"(run as Administrator)");
            return FAILED(hr) ? 1 : 0;
        }
        if (lstrcmpW(a, L"--cookie") == 0 && i + 1 < argc) {
            wchar_t *end = NULL;
            wantCookie = wcstol(argv[++i], &end, 10);
            if (!end || *end) { Usage(); return 2; }
            haveCookie = true;
        } else if (lstrcmpW(a, L"--user") == 0 && i + 1 < argc) {
            user = argv[++i];
        } else if (lstrcmpW(a, L"--password") == 0 && i + 1 < argc) {
            password = argv[++i];
        } else if (lstrcmpW(a, L"--imp") == 0 && i + 1 < argc) {
            const wchar_t *v = argv[++i];
            if (lstrcmpiW(v, L"identify") == 0) impLevel = RPC_C_IMP_LEVEL_IDENTIFY;
            else if (lstrcmpiW(v, L"impersonate") == 0) impLevel = RPC_C_IMP_LEVEL_IMPERSONATE;
            else { Usage(); return 2; }
        } else if (a[0] != L'-' && a[0] != L'/' && !host) {
            host = a;
        } else {
            Usage();
            return 2;
        }
    }
    if (!host || (user == NULL) != (password == NULL)) {
        Usage();
        return 2;
    }

    // An STA, as a typical GUI-era client; BackwardCall is dispatched to this thread while it
    // waits for ForwardCall (same causality, so COM lets it in).
    HRESULT hr = CoInitializeEx(NULL, COINIT_APARTMENTTHREADED);
    if (FAILED(hr)) {
        LabPrint(L"CoInitializeEx: %ls", HR(hr));
        return 1;
    }
    // Process-wide security as a typical app sets it. pSecDesc NULL: COM itself checks nothing
    // for incoming calls (the callback), but XP SP2's machine-wide access limits cannot be
    // overridden by CoInitializeSecurity and refuse remote ANONYMOUS LOGON callers: that is the
    // SP2 failure this lab reproduces.
    hr = CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_CONNECT, impLevel, NULL, EOAC_NONE, NULL);
    LabPrint(L"CoInitializeSecurity(authn connect, imp %ls): %ls",
             impLevel == RPC_C_IMP_LEVEL_IDENTIFY ? L"identify" : L"impersonate", HR(hr));
    if (FAILED(hr)) {
        CoUninitialize();
        return 1;
    }

    ITypeLib *tl = NULL;
    HRESULT thr = LoadRegTypeLib(LIBID_DcomLabLib, 1, 0, 0, &tl);
    if (SUCCEEDED(thr)) tl->Release();
    else LabPrint(L"warning: type library DcomLabLib 1.0 not registered here (%ls): ICServer and IClientCallback cannot be marshaled; run `labclient.exe /regtlb` as Administrator", HR(thr));

    // --user: an explicit NTLM identity, for the activation (COAUTHINFO) and for the calls
    // (CoSetProxyBlanket on the proxy: COAUTHINFO covers the activation only).
    wchar_t domain[128] = L"", name[128] = L"";
    COAUTHIDENTITY ident;
    COAUTHINFO authInfo;
    ZeroMemory(&ident, sizeof(ident));
    ZeroMemory(&authInfo, sizeof(authInfo));
    if (user) {
        const wchar_t *slash = wcschr(user, L'\\');
        if (slash) {
            lstrcpynW(domain, user, (int)(slash - user + 1 < 128 ? slash - user + 1 : 128));
            lstrcpynW(name, slash + 1, 128);
        } else {
            lstrcpynW(name, user, 128);
        }
        ident.User = (USHORT *)name;
        ident.UserLength = (ULONG)wcslen(name);
        ident.Domain = (USHORT *)domain;
        ident.DomainLength = (ULONG)wcslen(domain);
        ident.Password = (USHORT *)password;
        ident.PasswordLength = (ULONG)wcslen(password);
        ident.Flags = SEC_WINNT_AUTH_IDENTITY_UNICODE;
        authInfo.dwAuthnSvc = RPC_C_AUTHN_WINNT;
        authInfo.dwAuthzSvc = RPC_C_AUTHZ_NONE;
        authInfo.pwszServerPrincName = NULL;
        authInfo.dwAuthnLevel = RPC_C_AUTHN_LEVEL_CONNECT;
        authInfo.dwImpersonationLevel = RPC_C_IMP_LEVEL_IMPERSONATE;  // COAUTHINFO requires it
        authInfo.pAuthIdentityData = &ident;
        authInfo.dwCapabilities = EOAC_NONE;
    }

    COSERVERINFO server;
    ZeroMemory(&server, sizeof(server));
    server.pwszName = (LPWSTR)host;
    server.pAuthInfo = user ? &authInfo : NULL;
    MULTI_QI mqi = {&IID_ICServer, NULL, S_OK};
    hr = CoCreateInstanceEx(CLSID_CServer, NULL, CLSCTX_REMOTE_SERVER, &server, 1, &mqi);
    if (SUCCEEDED(hr) && FAILED(mqi.hr)) hr = mqi.hr;
    LabPrint(L"activation of CServer at %ls: %ls", host, HR(hr));
    if (FAILED(hr)) {
        CoUninitialize();
        return 1;
    }
    ICServer *srv = static_cast<ICServer *>(mqi.pItf);

    if (user) {
        IUnknown *unk = NULL;
        HRESULT bhr = CoSetProxyBlanket(srv, RPC_C_AUTHN_WINNT, RPC_C_AUTHZ_NONE, NULL, RPC_C_AUTHN_LEVEL_CONNECT,
                                        impLevel, &ident, EOAC_NONE);
        if (FAILED(bhr)) LabPrint(L"CoSetProxyBlanket(ICServer): %ls", HR(bhr));
        // The IUnknown proxy too, so that QueryInterface/Release also go as --user.
        if (SUCCEEDED(srv->QueryInterface(IID_IUnknown, (void **)&unk))) {
            bhr = CoSetProxyBlanket(unk, RPC_C_AUTHN_WINNT, RPC_C_AUTHZ_NONE, NULL, RPC_C_AUTHN_LEVEL_CONNECT, impLevel,
                                    &ident, EOAC_NONE);
            if (FAILED(bhr)) LabPrint(L"CoSetProxyBlanket(IUnknown): %ls", HR(bhr));
            unk->Release();
        }
    }

    BSTR who = NULL;
    hr = srv->WhoAmI(&who);
    if (SUCCEEDED(hr)) LabPrint(L"WhoAmI: %ls, the server sees %ls", HR(hr), who ? who : L"(null)");
    else LabPrint(L"WhoAmI: %ls", HR(hr));
    SysFreeString(who);

    long ping = (long)GetCurrentProcessId(), echo = 0;
    hr = srv->Ping(ping, &echo);
    LabPrint(L"Ping(%ld): %ls, echo %ld%ls", ping, HR(hr), echo, SUCCEEDED(hr) && echo != ping ? L" (wrong echo)" : L"");

    HRESULT fhr = srv->ForwardCall(&g_callback);
    LabPrint(L"ForwardCall: %ls", HR(fhr));
    bool ok = fhr == S_OK && g_callback.arrived;
    if (g_callback.arrived) {
        LabPrint(L"BackwardCall: arrived as %ls, cookie %ld", g_callback.caller, g_callback.cookie);
        if (haveCookie && g_callback.cookie != wantCookie) {
            LabPrint(L"BackwardCall: expected cookie %ld", wantCookie);
            ok = false;
        }
    } else {
        LabPrint(L"BackwardCall: never arrived");
    }

    srv->Release();
    CoUninitialize();
    return ok ? 0 : 1;
}
