@echo off
rem Registers the dcomlab lab kit on a Windows XP SP2 VM. Run as Administrator, from the folder
rem holding the kit (for example C:\dcomlab), with the role of this machine:
rem
rem   register.cmd server [/process-identity] [/interactive]
rem       labserver.exe /regserver: CServer's CLSID (LocalServer32 = this folder's labserver.exe),
rem       its AppID (no RunAs: runs as the launching user), and the type library.
rem       /process-identity: the COM-started server calls back as its own account (the fix).
rem       /interactive: RunAs = Interactive User (runs on the logged-on desktop, console visible).
rem   register.cmd client
rem       labclient.exe /regtlb: the type library only. The client needs it too: the type-library
rem       marshaller reads it to build the ICServer proxy and the IClientCallback stub.
rem   register.cmd remove
rem       Undoes both (whichever was done here).
rem
rem The registry paths point at this folder: move the kit, register again.
setlocal
set KIT=%~dp0

if /i "%~1"=="server" goto server
if /i "%~1"=="client" goto client
if /i "%~1"=="remove" goto remove
echo usage: register.cmd server [/process-identity] [/interactive] ^| client ^| remove
exit /b 2

:server
"%KIT%labserver.exe" /regserver %2 %3
exit /b %errorlevel%

:client
"%KIT%labclient.exe" /regtlb
exit /b %errorlevel%

:remove
if exist "%KIT%labserver.exe" "%KIT%labserver.exe" /unregserver
if exist "%KIT%labclient.exe" "%KIT%labclient.exe" /unregtlb
exit /b 0
