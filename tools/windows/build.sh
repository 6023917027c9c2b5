#!/usr/bin/env bash
# Builds the Windows lab kit (labserver.exe, labclient.exe) for 32-bit Windows XP SP2 with mingw-w64.
#
#   bash tools/windows/build.sh [OUTDIR]      (npm run build:windows; OUTDIR defaults to build/windows)
#
# OUTDIR then holds everything to copy to the VMs (labserver.exe, labclient.exe, register.cmd,
# labserver.reg) plus widl's outputs (lab.h, lab_i.c, lab.tlb) and the intermediates in obj/.
# Needs (Debian 12): gcc-mingw-w64-i686 g++-mingw-w64-i686 mingw-w64-tools.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$ROOT/build/windows}"
T=i686-w64-mingw32

missing=()
for tool in widl gcc g++ windres objdump; do
  command -v "$T-$tool" >/dev/null 2>&1 || missing+=("$T-$tool")
done
if ((${#missing[@]})); then
  echo "build.sh: missing ${missing[*]}" >&2
  echo "build.sh: on Debian 12: apt-get install gcc-mingw-w64-i686 g++-mingw-w64-i686 mingw-w64-tools" >&2
  exit 1
fi

mkdir -p "$OUT/obj/idl"
OUT="$(cd "$OUT" && pwd)"
OBJ="$OUT/obj"

# Debian's mingw-w64 has headers but no .idl files. widl needs IUnknown and the Automation type names
# (HRESULT, BSTR: widl knows their VT_ codes by name), and importlib("stdole2.tlb") needs a stdole2.tlb
# to read. These stand-ins give exactly that: lab.h still includes the SDK's real <unknwn.h>, and
# lab.tlb refers to stdole2 by its LIBID {00020430-...} 2.0 and to IUnknown by its IID, which Windows
# resolves against its own registered stdole2.tlb.
cat >"$OBJ/idl/unknwn.idl" <<'EOF'
/* build.sh stand-in for the SDK's unknwn.idl (only what lab.idl needs) */
typedef long HRESULT;
typedef unsigned long ULONG;
typedef unsigned short OLECHAR;
typedef OLECHAR *BSTR;
typedef struct _GUID { unsigned long Data1; unsigned short Data2; unsigned short Data3; unsigned char Data4[8]; } GUID;
typedef GUID IID;
typedef const IID *REFIID;
[local, object, uuid(00000000-0000-0000-C000-000000000046), pointer_default(unique)]
interface IUnknown
{
    HRESULT QueryInterface([in] REFIID riid, [out, iid_is(riid)] void **ppvObject);
    ULONG AddRef();
    ULONG Release();
}
EOF
cat >"$OBJ/idl/stdole2.idl" <<'EOF'
/* build.sh stand-in for stdole2.tlb: the OLE Automation library's identity and IUnknown */
import "unknwn.idl";
[uuid(00020430-0000-0000-C000-000000000046), version(2.0)]
library stdole
{
    interface IUnknown;
}
EOF
WIDL=("$T-widl" --nostdinc -I "$OBJ/idl" -L "$OBJ/idl")
(cd "$OBJ/idl" && "${WIDL[@]}" -t -o stdole2.tlb stdole2.idl)

# widl: the C/C++ header, the GUID definitions, the type library.
cp "$HERE/lab.idl" "$OBJ/lab.idl"
(cd "$OBJ" && "${WIDL[@]}" -h -o "$OUT/lab.h" lab.idl \
  && "${WIDL[@]}" -u -o "$OUT/lab_i.c" lab.idl \
  && "${WIDL[@]}" -t -o "$OUT/lab.tlb" lab.idl)

# The type library is embedded in both .exe files as resource 1 of type TYPELIB, where
# LoadTypeLibEx(exe path) finds it: each program registers it with /regserver or /regtlb.
printf '1 TYPELIB "lab.tlb"\n' >"$OBJ/lab.rc"
"$T-windres" --include-dir "$OUT" -O coff -o "$OBJ/lab_res.o" "$OBJ/lab.rc"

# XP SP2: its headers only, a static libgcc/libstdc++ (no mingw DLLs on the VM), msvcrt.dll as the CRT.
DEFS=(-D_WIN32_WINNT=0x0501 -DWINVER=0x0501 -DUNICODE -D_UNICODE)
CFLAGS=(-O2 -Wall -Wextra -Wno-unused-parameter -I "$OUT" -I "$HERE")
CXXFLAGS=("${CFLAGS[@]}" -fno-exceptions -fno-rtti)
LDFLAGS=(-municode -static -static-libgcc -static-libstdc++ -s)
LIBS=(-lole32 -loleaut32 -luuid -ladvapi32 -luser32 -lkernel32)

"$T-gcc" "${DEFS[@]}" "${CFLAGS[@]}" -c -o "$OBJ/lab_i.o" "$OUT/lab_i.c"
for prog in labserver labclient; do
  "$T-g++" "${DEFS[@]}" "${CXXFLAGS[@]}" -municode -c -o "$OBJ/$prog.o" "$HERE/$prog.cpp"
  "$T-g++" "${LDFLAGS[@]}" -o "$OUT/$prog.exe" "$OBJ/$prog.o" "$OBJ/lab_i.o" "$OBJ/lab_res.o" "${LIBS[@]}"
done

# Only DLLs every XP SP2 machine has.
ALLOWED='^(kernel32|user32|advapi32|ole32|oleaut32|msvcrt|secur32|rpcrt4)\.dll$'
for prog in labserver labclient; do
  dlls="$("$T-objdump" -p "$OUT/$prog.exe" | sed -n 's/^[[:space:]]*DLL Name: //p' | tr 'A-Z' 'a-z' | sort -u)"
  bad="$(grep -Ev "$ALLOWED" <<<"$dlls" || true)"
  if [[ -n "$bad" ]]; then
    echo "build.sh: $prog.exe imports DLLs XP SP2 may not have: $(tr '\n' ' ' <<<"$bad")" >&2
    exit 1
  fi
  echo "$prog.exe imports: $(tr '\n' ' ' <<<"$dlls")"
done

# The kit's Windows scripts, with CRLF line endings (cmd.exe mis-parses labels in LF-only files).
for f in register.cmd labserver.reg; do
  sed 's/\r$//; s/$/\r/' "$HERE/$f" >"$OUT/$f"
done

echo "built in $OUT:"
for f in labserver.exe labclient.exe lab.tlb lab.h lab_i.c register.cmd labserver.reg; do
  printf '  %-14s %8d bytes\n' "$f" "$(stat -c %s "$OUT/$f")"
done
