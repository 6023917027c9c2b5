// labserver.exe: CServer as an out-of-process COM server (LocalServer32) for Windows XP SP2, the
// Windows counterpart of `dcomlab serve`.
//
//   labserver.exe /regserver [/process-identity] [/interactive]   register (as Administrator)
//   labserver.exe /unregserver                                    remove the registration
//   labserver.exe [/process-identity]                             serve until Ctrl+C
//
// ForwardCall(pCallback) calls pCallback->BackwardCall(cookie). By default it impersonates the
// client first: the original design that XP SP2 broke (the callback cannot carry the client's
// network identity any further, arrives as ANONYMOUS LOGON and SP2's machine-wide limits refuse
// it: E_ACCESSDENIED). With /process-identity it calls back as the server process's own account:
// the fix. COM starts the registered server with -Embedding; it then also quits a few seconds after
// its last object is released. Every event goes to stdout and to labserver.log next to the .exe
// (or in %TEMP%; a COM-launched server has no visible console).
#include "lab.h"
#include "hresult_names.h"

static bool g_processIdentity = false;
static bool g_embedding = false;
static DWORD g_mainThread = 0;
static LONG g_objects = 0;
static LONG g_locks = 0;
static LONG g_serial = 0;
static LONG g_nextCookie = 1;  // like dcomlab serve: 1, 2, 3... per server process

static const UINT WM_LAB_IDLE = WM_APP + 1;
static const UINT IDLE_EXIT_MS = 5000;

static void MaybeIdle() {
    if (g_objects == 0 && g_locks == 0) PostThreadMessageW(g_mainThread, WM_LAB_IDLE, 0, 0);
}

class CServer final : public ICServer {
public:
    // From the process heap rather than libstdc++'s operator new (which would pull in C++
    // exception support); noexcept makes `new` check for NULL.
    static void *operator new(size_t n) noexcept { return HeapAlloc(GetProcessHeap(), 0, n); }
    static void operator delete(void *p) noexcept { HeapFree(GetProcessHeap(), 0, p); }

    CServer() : m_refs(1) {
        m_id = InterlockedIncrement(&g_serial);
        InterlockedIncrement(&g_objects);
    }
    LONG Id() const { return m_id; }

    // IUnknown
    HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void **ppv) {
        if (!ppv) return E_POINTER;
        if (IsEqualIID(riid, IID_IUnknown) || IsEqualIID(riid, IID_ICServer)) {
            *ppv = static_cast<ICServer *>(this);
            AddRef();
            return S_OK;
        }
        *ppv = NULL;
        return E_NOINTERFACE;
    }
    ULONG STDMETHODCALLTYPE AddRef() { return (ULONG)InterlockedIncrement(&m_refs); }
    ULONG STDMETHODCALLTYPE Release() {
        LONG n = InterlockedDecrement(&m_refs);
        if (n == 0) {
            LabPrint(L"CServer #%ld released (%ld left)", m_id, InterlockedDecrement(&g_objects));
            delete this;
            MaybeIdle();
        }
        return (ULONG)n;
    }

    // ICServer
    HRESULT STDMETHODCALLTYPE ForwardCall(IClientCallback *pCallback) {
        wchar_t caller[400];
        LabCallerName(caller, 400);
        if (!pCallback) {
            LabPrint(L"ForwardCall from %ls: pCallback is NULL, returning %ls", caller, HR(E_POINTER));
            return E_POINTER;
        }
        LONG cookie = InterlockedIncrement(&g_nextCookie) - 1;
        HRESULT hr;
        if (g_processIdentity) {
            // The fix: no impersonation, so the callback carries the server process's token.
            wchar_t self[300];
            LabProcessUser(self, 300);
            LabPrint(L"ForwardCall from %ls: calling BackwardCall(%ld) as the process identity %ls", caller, cookie, self);
            hr = pCallback->BackwardCall(cookie);
        } else {
            // The original design: impersonate the client and call back. Dynamic cloaking
            // (CoInitializeSecurity below) makes the outgoing call use the impersonation token.
            HRESULT ihr = CoImpersonateClient();
            if (FAILED(ihr)) {
                LabPrint(L"ForwardCall from %ls: CoImpersonateClient: %ls", caller, HR(ihr));
                return ihr;
            }
            LabPrint(L"ForwardCall from %ls: impersonating the client, calling BackwardCall(%ld)", caller, cookie);
            hr = pCallback->BackwardCall(cookie);
            HRESULT rhr = CoRevertToSelf();
            if (FAILED(rhr)) LabPrint(L"CoRevertToSelf: %ls", HR(rhr));
        }
        LabPrint(L"BackwardCall(%ld): %ls", cookie, HR(hr));
        LabPrint(L"ForwardCall returns %ls", HR(hr));
        return hr;
    }

    HRESULT STDMETHODCALLTYPE Ping(long value, long *echo) {
        if (!echo) return E_POINTER;
        *echo = value;
        wchar_t caller[400];
        LabCallerName(caller, 400);
        LabPrint(L"Ping(%ld) from %ls", value, caller);
        return S_OK;
    }

    HRESULT STDMETHODCALLTYPE WhoAmI(BSTR *identity) {
        if (!identity) return E_POINTER;
        wchar_t caller[400];
        LabCallerName(caller, 400);
        // WhoAmI answers the account alone, as dcomlab does; the log line has the details.
        wchar_t name[400];
        lstrcpynW(name, caller, 400);
        wchar_t *paren = wcsstr(name, L" (");
        if (paren && name[0] != L'(') *paren = 0;
        *identity = SysAllocString(name);
        LabPrint(L"WhoAmI from %ls", caller);
        return *identity ? S_OK : E_OUTOFMEMORY;
    }

private:
    LONG m_refs;
    LONG m_id;
};

class CServerFactory : public IClassFactory {
public:
    HRESULT STDMETHODCALLTYPE QueryInterface(REFIID riid, void **ppv) {
        if (!ppv) return E_POINTER;
        if (IsEqualIID(riid, IID_IUnknown) || IsEqualIID(riid, IID_IClassFactory)) {
            *ppv = static_cast<IClassFactory *>(this);
            return S_OK;
        }
        *ppv = NULL;
        return E_NOINTERFACE;
    }
    // A static object: its lifetime is the process's.
    ULONG STDMETHODCALLTYPE AddRef() { return 2; }
    ULONG STDMETHODCALLTYPE Release() { return 1; }

    HRESULT STDMETHODCALLTYPE CreateInstance(IUnknown *outer, REFIID riid, void **ppv) {
        if (!ppv) return E_POINTER;
        *ppv = NULL;
        if (outer) return CLASS_E_NOAGGREGATION;
        CServer *obj = new CServer();
        if (!obj) return E_OUTOFMEMORY;
        HRESULT hr = obj->QueryInterface(riid, ppv);
        LabPrint(L"activation: CServer #%ld created (%ld live): %ls", obj->Id(), g_objects, HR(hr));
        obj->Release();
        return hr;
    }
    HRESULT STDMETHODCALLTYPE LockServer(BOOL lock) {
        if (lock) InterlockedIncrement(&g_locks);
        else if (InterlockedDecrement(&g_locks) == 0) MaybeIdle();
        return S_OK;
    }
};

static CServerFactory g_factory;

// ---------------------------------------------------------------------------------------------
// Registration: HKLM\SOFTWARE\Classes (HKCR for every user). The AppID is the CLSID, as is usual
// for a one-class server. No RunAs value: the AppID runs as the launching user (the default);
// /interactive sets RunAs=Interactive User instead (the server then runs on the logged-on desktop
// with its console visible, and runs as that account: what /process-identity calls back as).

static const wchar_t CLASSES[] = L"SOFTWARE\\Classes\\";

static LONG SetString(const wchar_t *key, const wchar_t *name, const wchar_t *value) {
    wchar_t path[300];
    _snwprintf(path, 300, L"%ls%ls", CLASSES, key);
    path[299] = 0;
    HKEY k;
    LONG rc = RegCreateKeyExW(HKEY_LOCAL_MACHINE, path, 0, NULL, 0, KEY_WRITE, NULL, &k, NULL);
    if (rc != ERROR_SUCCESS) return rc;
    rc = RegSetValueExW(k, name, 0, REG_SZ, (const BYTE *)value, (DWORD)((wcslen(value) + 1) * sizeof(wchar_t)));
    RegCloseKey(k);
    return rc;
}

// RegDeleteTree and SHDeleteKey are not XP-era kernel/advapi APIs: delete subkeys depth first.
static LONG DeleteTree(HKEY root, const wchar_t *path) {
    HKEY k;
    LONG rc = RegOpenKeyExW(root, path, 0, KEY_READ | KEY_WRITE, &k);
    if (rc != ERROR_SUCCESS) return rc;
    for (;;) {
        wchar_t sub[256];
        DWORD n = 256;
        if (RegEnumKeyExW(k, 0, sub, &n, NULL, NULL, NULL, NULL) != ERROR_SUCCESS) break;
        wchar_t child[600];
        _snwprintf(child, 600, L"%ls\\%ls", path, sub);
        child[599] = 0;
        if (DeleteTree(root, child) != ERROR_SUCCESS) break;
    }
    RegCloseKey(k);
    return RegDeleteKeyW(root, path);
}

static LONG DeleteClassesKey(const wchar_t *key) {
    wchar_t path[300];
    _snwprintf(path, 300, L"%ls%ls", CLASSES, key);
    path[299] = 0;
    LONG rc = DeleteTree(HKEY_LOCAL_MACHINE, path);
    return rc == ERROR_FILE_NOT_FOUND ? ERROR_SUCCESS : rc;
}

static int Register(bool interactive) {
    wchar_t exe[MAX_PATH];
    if (!GetModuleFileNameW(NULL, exe, MAX_PATH)) return 1;
    exe[MAX_PATH - 1] = 0;
    wchar_t clsid[40];
    StringFromGUID2(CLSID_CServer, clsid, 40);
    const wchar_t *exeName = wcsrchr(exe, L'\\') ? wcsrchr(exe, L'\\') + 1 : exe;

    wchar_t key[200], cmd[MAX_PATH + 40];
    // COM appends " -Embedding" to this command line when it starts the server.
    _snwprintf(cmd, MAX_PATH + 40, L"\"%ls\"%ls", exe, g_processIdentity ? L" /process-identity" : L"");
    cmd[MAX_PATH + 39] = 0;
    LONG rc = ERROR_SUCCESS;
    _snwprintf(key, 200, L"CLSID\\%ls", clsid);
    if (rc == ERROR_SUCCESS) rc = SetString(key, NULL, L"dcomlab CServer");
    if (rc == ERROR_SUCCESS) rc = SetString(key, L"AppID", clsid);
    _snwprintf(key, 200, L"CLSID\\%ls\\LocalServer32", clsid);
    if (rc == ERROR_SUCCESS) rc = SetString(key, NULL, cmd);
    _snwprintf(key, 200, L"AppID\\%ls", clsid);
    if (rc == ERROR_SUCCESS) rc = SetString(key, NULL, L"dcomlab labserver");
    if (rc == ERROR_SUCCESS && interactive) rc = SetString(key, L"RunAs", L"Interactive User");
    _snwprintf(key, 200, L"AppID\\%ls", exeName);
    if (rc == ERROR_SUCCESS) rc = SetString(key, L"AppID", clsid);
    if (rc != ERROR_SUCCESS) {
        LabPrint(L"registry: %ls (run as Administrator)", HR(HRESULT_FROM_WIN32(rc)));
        return 1;
    }
    LabPrint(L"registered CServer %ls: LocalServer32 %ls, AppID %ls, RunAs %ls", clsid, cmd, clsid,
             interactive ? L"Interactive User" : L"(launching user)");

    wchar_t path[MAX_PATH];
    HRESULT hr = LabRegisterTypeLib(true, path, MAX_PATH);
    LabPrint(L"type library DcomLabLib 1.0 in %ls: %ls", path, HR(hr));
    return FAILED(hr) ? 1 : 0;
}

static int Unregister() {
    wchar_t exe[MAX_PATH] = L"";
    HRESULT hr = LabRegisterTypeLib(false, exe, MAX_PATH);
    LabPrint(L"type library unregistered: %ls", HR(hr));
    wchar_t clsid[40], key[200];
    StringFromGUID2(CLSID_CServer, clsid, 40);
    const wchar_t *exeName = wcsrchr(exe, L'\\') ? wcsrchr(exe, L'\\') + 1 : exe;
    LONG rc = ERROR_SUCCESS, r;
    _snwprintf(key, 200, L"CLSID\\%ls", clsid);
    if ((r = DeleteClassesKey(key)) != ERROR_SUCCESS) rc = r;
    _snwprintf(key, 200, L"AppID\\%ls", clsid);
    if ((r = DeleteClassesKey(key)) != ERROR_SUCCESS) rc = r;
    _snwprintf(key, 200, L"AppID\\%ls", exeName);
    if ((r = DeleteClassesKey(key)) != ERROR_SUCCESS) rc = r;
    LabPrint(L"CServer %ls registry keys removed: %ls", clsid, HR(HRESULT_FROM_WIN32(rc)));
    return rc == ERROR_SUCCESS && SUCCEEDED(hr) ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------

static BOOL WINAPI OnCtrl(DWORD) {
    PostThreadMessageW(g_mainThread, WM_QUIT, 0, 0);
    return TRUE;
}

// labserver.log next to the .exe; in %TEMP% when that folder is not writable for this account
// (a COM-started server runs as the launching user). Returns the path in use, or NULL.
static const wchar_t *OpenLog(wchar_t *path, DWORD cch) {
    DWORD n = GetModuleFileNameW(NULL, path, cch);
    wchar_t *slash = n && n < cch ? wcsrchr(path, L'\\') : NULL;
    if (slash && (size_t)(slash - path) + 15 < cch) {
        lstrcpyW(slash + 1, L"labserver.log");
        g_labLog = CreateFileW(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
                               FILE_ATTRIBUTE_NORMAL, NULL);
        if (g_labLog != INVALID_HANDLE_VALUE) return path;
    }
    n = GetTempPathW(cch, path);
    if (!n || n + 14 >= cch) return NULL;
    lstrcpyW(path + n, L"labserver.log");
    g_labLog = CreateFileW(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    return g_labLog != INVALID_HANDLE_VALUE ? path : NULL;
}

static void Usage() {
    LabPrint(L"usage: labserver.exe /regserver [/process-identity] [/interactive] | /unregserver | [/process-identity]");
}

static bool IsFlag(const wchar_t *arg, const wchar_t *name) {
    return (arg[0] == L'/' || arg[0] == L'-') && lstrcmpiW(arg + 1, name) == 0;
}

int wmain(int argc, wchar_t **argv) {
    bool reg = false, unreg = false, interactive = false;
    for (int i = 1; i < argc; i++) {
        if (IsFlag(argv[i], L"regserver")) reg = true;
        else if (IsFlag(argv[i], L"unregserver")) unreg = true;
        else if (IsFlag(argv[i], L"process-identity")) g_processIdentity = true;
        else if (IsFlag(argv[i], L"interactive")) interactive = true;
        else if (IsFlag(argv[i], L"Embedding")) g_embedding = true;
        else {
            Usage();
            return 2;
        }
    }
    if (reg) return Register(interactive);
    if (unreg) return Unregister();

    g_mainThread = GetCurrentThreadId();
    g_labTimestamps = true;
    wchar_t logPath[MAX_PATH];
    const wchar_t *log = OpenLog(logPath, MAX_PATH);
    wchar_t self[300];
    LabProcessUser(self, 300);
    LabPrint(L"labserver pid %lu as %ls, %ls, %ls", GetCurrentProcessId(), self,
             g_processIdentity ? L"calls back as the process identity (/process-identity)" : L"calls back impersonating the client",
             g_embedding ? L"started by COM (-Embedding)" : L"started by hand (Ctrl+C stops)");
    LabPrint(L"log: %ls", log ? log : L"(none: no writable labserver.log)");

    // An STA with a message loop, as the VB6/MFC-era servers that met SP2 were.
    HRESULT hr = CoInitializeEx(NULL, COINIT_APARTMENTTHREADED);
    if (FAILED(hr)) {
        LabPrint(L"CoInitializeEx: %ls", HR(hr));
        return 1;
    }
    // Process-wide security as a typical server sets it: NULL pSecDesc (COM does no access check
    // of its own; the machine-wide limits still apply), authentication at CONNECT, IMPERSONATE so
    // CoImpersonateClient gives a usable token, and dynamic cloaking so an outgoing call made while
    // impersonating carries the impersonated identity. These defaults also cover pCallback's
    // proxy, so ForwardCall sets no proxy blanket of its own.
    hr = CoInitializeSecurity(NULL, -1, NULL, NULL, RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_IMP_LEVEL_IMPERSONATE, NULL,
                              EOAC_DYNAMIC_CLOAKING, NULL);
    LabPrint(L"CoInitializeSecurity(authn connect, imp impersonate, dynamic cloaking): %ls", HR(hr));
    if (FAILED(hr)) {
        CoUninitialize();
        return 1;
    }
    DWORD regCookie = 0;
    hr = CoRegisterClassObject(CLSID_CServer, &g_factory, CLSCTX_LOCAL_SERVER, REGCLS_MULTIPLEUSE, &regCookie);
    LabPrint(L"CoRegisterClassObject(CServer, REGCLS_MULTIPLEUSE): %ls", HR(hr));
    if (FAILED(hr)) {
        CoUninitialize();
        return 1;
    }
    SetConsoleCtrlHandler(OnCtrl, TRUE);
    if (g_embedding) MaybeIdle();  // started for an activation that may never come

    MSG msg;
    UINT_PTR idleTimer = 0;
    while (GetMessageW(&msg, NULL, 0, 0) > 0) {
        if (msg.hwnd == NULL && msg.message == WM_LAB_IDLE) {
            if (g_embedding && !idleTimer) idleTimer = SetTimer(NULL, 0, IDLE_EXIT_MS, NULL);
            continue;
        }
        if (msg.hwnd == NULL && msg.message == WM_TIMER && msg.wParam == idleTimer && idleTimer) {
            KillTimer(NULL, idleTimer);
            idleTimer = 0;
            if (g_objects == 0 && g_locks == 0) {
                LabPrint(L"no objects left: exiting");
                break;
            }
            continue;
        }
        TranslateMessage(&msg);
        DispatchMessageW(&msg);
    }
    CoRevokeClassObject(regCookie);
    CoUninitialize();
    LabPrint(L"labserver stopped");
    if (g_labLog != INVALID_HANDLE_VALUE) CloseHandle(g_labLog);
    return 0;
}
