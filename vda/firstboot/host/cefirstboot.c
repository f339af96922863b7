/*
 * cefirstboot.exe: the Citrix CE first-boot service host (windows.md §2.3).
 *
 * A Windows service of our own (rhsrvany is GPL, so we do not ship it). It runs the numbered
 * scripts in <dir>\scripts\*.bat in lexical order with the virt-v2v exit-code protocol:
 *   249 = failed, retry at the next boot (the script stays; at most MAX_ATTEMPTS attempts);
 *   250 = success, no reboot: move it to scripts-done and run the next one now;
 *   anything else = done: move it to scripts-done and reboot (frees locked files).
 * When no script is left it writes the `complete` sentinel, marks its own service for deletion
 * and stops. Each script's exit code goes to results\<name>.exit, its stdout/stderr to
 * logs\<name>.out.txt, the host's own lines to log.txt and (best effort) the serial port COM1.
 *
 * <dir> is Parameters\PWD of the service entry, or the directory of this executable.
 * `cefirstboot.exe --console` runs the same loop without the service control manager (debugging);
 * `cefirstboot.exe --version` prints the version.
 *
 * Build: x86_64-w64-mingw32-gcc -municode (scripts/build-windows.sh). Links only kernel32 and
 * advapi32 plus msvcrt, all present on every Windows.
 */
#ifndef UNICODE
#define UNICODE
#endif
#ifndef _UNICODE
#define _UNICODE
#endif
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define CE_VERSION L"1.0.0"
#define DEFAULT_SERVICE_NAME L"CitrixCEFirstboot"
#define EXIT_RETRY 249
#define EXIT_NO_REBOOT 250
#define MAX_SCRIPTS 256
#define MAX_ATTEMPTS 3
#define PATH_CHARS 1024

static wchar_t g_service_name[256] = DEFAULT_SERVICE_NAME;
static wchar_t g_dir[PATH_CHARS];
static SERVICE_STATUS_HANDLE g_status_handle;
static SERVICE_STATUS g_status;
static HANDLE g_stop_event;
static HANDLE g_serial = INVALID_HANDLE_VALUE;
static BOOL g_console;

/* ---------- logging ---------- */

static void write_utf8(HANDLE h, const wchar_t *text) {
  char buf[4096];
  int n = WideCharToMultiByte(CP_UTF8, 0, text, -1, buf, (int)sizeof(buf) - 1, NULL, NULL);
  if (n <= 1) return;
  DWORD written;
  WriteFile(h, buf, (DWORD)(n - 1), &written, NULL);
}

static void path_join(wchar_t *out, size_t cap, const wchar_t *a, const wchar_t *b) {
  _snwprintf(out, cap, L"%ls\\%ls", a, b);
  out[cap - 1] = 0;
}

/* One line to log.txt (opened and closed each time so scripts can append too), COM1 and the console. */
static void log_line(const wchar_t *fmt, ...) {
  wchar_t msg[2048], line[2200], path[PATH_CHARS];
  va_list ap;
  va_start(ap, fmt);
  _vsnwprintf(msg, 2047, fmt, ap);
  va_end(ap);
  msg[2047] = 0;
  SYSTEMTIME t;
  GetSystemTime(&t);
  _snwprintf(line, 2199, L"%04u-%02u-%02uT%02u:%02u:%02uZ [cefirstboot] %ls\r\n", t.wYear, t.wMonth, t.wDay, t.wHour, t.wMinute,
             t.wSecond, msg);
  line[2199] = 0;
  path_join(path, PATH_CHARS, g_dir, L"log.txt");
  for (int i = 0; i < 5; i++) {
    HANDLE h = CreateFileW(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
                           FILE_ATTRIBUTE_NORMAL, NULL);
    if (h != INVALID_HANDLE_VALUE) {
      write_utf8(h, line);
      CloseHandle(h);
      break;
    }
    Sleep(200);
  }
  if (g_serial != INVALID_HANDLE_VALUE) write_utf8(g_serial, line);
  if (g_console) fputws(line, stdout);
}

static void open_serial(void) {
  g_serial = CreateFileW(L"\\\\.\\COM1", GENERIC_WRITE, 0, NULL, OPEN_EXISTING, 0, NULL);
  if (g_serial == INVALID_HANDLE_VALUE) return;
  DCB dcb;
  memset(&dcb, 0, sizeof dcb);
  dcb.DCBlength = sizeof dcb;
  if (GetCommState(g_serial, &dcb)) {
    dcb.BaudRate = CBR_115200;
    dcb.ByteSize = 8;
    dcb.Parity = NOPARITY;
    dcb.StopBits = ONESTOPBIT;
    SetCommState(g_serial, &dcb);
  }
  COMMTIMEOUTS to = {0, 0, 0, 10, 1000};
  SetCommTimeouts(g_serial, &to);
}

/* ---------- small file helpers ---------- */

static void write_text_file(const wchar_t *path, const wchar_t *text) {
  HANDLE h = CreateFileW(path, GENERIC_WRITE, FILE_SHARE_READ, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE) {
    log_line(L"cannot write %ls (error %lu)", path, GetLastError());
    return;
  }
  write_utf8(h, text);
  FlushFileBuffers(h);
  CloseHandle(h);
}

static int read_int_file(const wchar_t *path) {
  HANDLE h = CreateFileW(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
  if (h == INVALID_HANDLE_VALUE) return 0;
  char buf[32] = {0};
  DWORD got = 0;
  ReadFile(h, buf, sizeof buf - 1, &got, NULL);
  CloseHandle(h);
  return atoi(buf);
}

static void base_name(wchar_t *out, size_t cap, const wchar_t *file) {
  wcsncpy(out, file, cap - 1);
  out[cap - 1] = 0;
  wchar_t *dot = wcsrchr(out, L'.');
  if (dot) *dot = 0;
}

static int cmp_names(const void *a, const void *b) {
  return wcscmp((const wchar_t *)a, (const wchar_t *)b); /* ordinal: names are %04d-%04d-ascii */
}

/* The pending scripts, sorted. Returns the count (0..MAX_SCRIPTS). */
static int list_scripts(wchar_t names[][MAX_PATH]) {
  wchar_t pattern[PATH_CHARS];
  _snwprintf(pattern, PATH_CHARS, L"%ls\\scripts\\*.bat", g_dir);
  pattern[PATH_CHARS - 1] = 0;
  WIN32_FIND_DATAW fd;
  HANDLE f = FindFirstFileW(pattern, &fd);
  if (f == INVALID_HANDLE_VALUE) return 0;
  int n = 0;
  do {
    if (fd.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) continue;
    if (n < MAX_SCRIPTS) {
      wcsncpy(names[n], fd.cFileName, MAX_PATH - 1);
      names[n][MAX_PATH - 1] = 0;
      n++;
    }
  } while (FindNextFileW(f, &fd));
  FindClose(f);
  qsort(names, (size_t)n, sizeof names[0], cmp_names);
  return n;
}

/* ---------- actions ---------- */

static DWORD run_script(const wchar_t *file, const wchar_t *base) {
  wchar_t cmd[PATH_CHARS * 2], outPath[PATH_CHARS], logs[PATH_CHARS], sysdir[MAX_PATH], cmdexe[MAX_PATH + 16];
  path_join(logs, PATH_CHARS, g_dir, L"logs");
  CreateDirectoryW(logs, NULL);
  _snwprintf(outPath, PATH_CHARS, L"%ls\\%ls.out.txt", logs, base);
  outPath[PATH_CHARS - 1] = 0;
  GetSystemDirectoryW(sysdir, MAX_PATH);
  _snwprintf(cmdexe, MAX_PATH + 16, L"%ls\\cmd.exe", sysdir);
  cmdexe[MAX_PATH + 15] = 0;
  /* cmd /c ""<dir>\scripts\<file>"": the outer quotes are stripped by cmd, the inner ones keep spaces. */
  _snwprintf(cmd, PATH_CHARS * 2, L"\"%ls\" /c \"\"%ls\\scripts\\%ls\"\"", cmdexe, g_dir, file);
  cmd[PATH_CHARS * 2 - 1] = 0;

  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE out = CreateFileW(outPath, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
  STARTUPINFOW si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  if (out != INVALID_HANDLE_VALUE) {
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = NULL;
    si.hStdOutput = out;
    si.hStdError = out;
  }
  PROCESS_INFORMATION pi;
  memset(&pi, 0, sizeof pi);
  DWORD code = 1;
  if (!CreateProcessW(NULL, cmd, NULL, NULL, TRUE, CREATE_NO_WINDOW, NULL, g_dir, &si, &pi)) {
    log_line(L"cannot start %ls (error %lu)", file, GetLastError());
  } else {
    WaitForSingleObject(pi.hProcess, INFINITE);
    GetExitCodeProcess(pi.hProcess, &code);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
  }
  if (out != INVALID_HANDLE_VALUE) CloseHandle(out);
  return code;
}

static void enable_shutdown_privilege(void) {
  HANDLE tok;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_ADJUST_PRIVILEGES | TOKEN_QUERY, &tok)) return;
  TOKEN_PRIVILEGES tp;
  tp.PrivilegeCount = 1;
  tp.Privileges[0].Attributes = SE_PRIVILEGE_ENABLED;
  if (LookupPrivilegeValueW(NULL, SE_SHUTDOWN_NAME, &tp.Privileges[0].Luid)) AdjustTokenPrivileges(tok, FALSE, &tp, 0, NULL, NULL);
  CloseHandle(tok);
}

static void reboot_now(void) {
  log_line(L"rebooting");
  if (g_console) {
    log_line(L"(console mode: not rebooting; run again to continue)");
    return;
  }
  enable_shutdown_privilege();
  if (!InitiateSystemShutdownExW(NULL, NULL, 0, TRUE, TRUE,
                                 SHTDN_REASON_MAJOR_APPLICATION | SHTDN_REASON_MINOR_INSTALLATION | SHTDN_REASON_FLAG_PLANNED)) {
    log_line(L"InitiateSystemShutdownEx failed (error %lu)", GetLastError());
  }
}

static void delete_own_service(void) {
  if (g_console) return;
  SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
  if (!scm) {
    log_line(L"OpenSCManager failed (error %lu)", GetLastError());
    return;
  }
  SC_HANDLE svc = OpenServiceW(scm, g_service_name, DELETE);
  if (!svc || !DeleteService(svc)) log_line(L"DeleteService(%ls) failed (error %lu)", g_service_name, GetLastError());
  else log_line(L"service %ls marked for deletion", g_service_name);
  if (svc) CloseServiceHandle(svc);
  CloseServiceHandle(scm);
}

/* The runner loop. Returns when every script ran, or when it asked for a reboot. */
static void run_runner(void) {
  static wchar_t names[MAX_SCRIPTS][MAX_PATH];
  wchar_t path[PATH_CHARS], dst[PATH_CHARS], base[MAX_PATH], text[256];
  wchar_t sub[4][16] = {L"scripts", L"scripts-done", L"results", L"logs"};
  for (int i = 0; i < 4; i++) {
    path_join(path, PATH_CHARS, g_dir, sub[i]);
    CreateDirectoryW(path, NULL);
  }
  log_line(L"cefirstboot %ls starting in %ls", CE_VERSION, g_dir);
  for (;;) {
    if (g_stop_event && WaitForSingleObject(g_stop_event, 0) == WAIT_OBJECT_0) {
      log_line(L"stop requested; the remaining scripts run at the next boot");
      return;
    }
    int n = list_scripts(names);
    if (n == 0) break;
    const wchar_t *file = names[0];
    base_name(base, MAX_PATH, file);
    _snwprintf(path, PATH_CHARS, L"%ls\\results\\%ls.attempts", g_dir, base);
    path[PATH_CHARS - 1] = 0;
    int attempts = read_int_file(path) + 1;
    _snwprintf(text, 256, L"%d", attempts);
    write_text_file(path, text);

    log_line(L"running %ls (attempt %d)", file, attempts);
    DWORD code = run_script(file, base);
    log_line(L"%ls exited with %lu", file, code);
    _snwprintf(path, PATH_CHARS, L"%ls\\results\\%ls.exit", g_dir, base);
    path[PATH_CHARS - 1] = 0;
    _snwprintf(text, 256, L"%lu %d", code, attempts);
    write_text_file(path, text);

    if (code == EXIT_RETRY && attempts < MAX_ATTEMPTS) {
      log_line(L"%ls asked for a retry at the next boot", file);
      reboot_now();
      return;
    }
    if (code == EXIT_RETRY) log_line(L"%ls: giving up after %d attempts", file, attempts);
    _snwprintf(path, PATH_CHARS, L"%ls\\scripts\\%ls", g_dir, file);
    path[PATH_CHARS - 1] = 0;
    _snwprintf(dst, PATH_CHARS, L"%ls\\scripts-done\\%ls", g_dir, file);
    dst[PATH_CHARS - 1] = 0;
    if (!MoveFileExW(path, dst, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
      log_line(L"cannot move %ls to scripts-done (error %lu); stopping", file, GetLastError());
      return;
    }
    if (code == EXIT_NO_REBOOT) continue;
    reboot_now();
    return;
  }
  path_join(path, PATH_CHARS, g_dir, L"complete");
  write_text_file(path, L"complete\r\n");
  log_line(L"all scripts ran; complete");
  delete_own_service();
}

/* ---------- service plumbing ---------- */

static void set_state(DWORD state, DWORD exitCode) {
  g_status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
  g_status.dwCurrentState = state;
  g_status.dwControlsAccepted = state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP : 0;
  g_status.dwWin32ExitCode = exitCode;
  g_status.dwWaitHint = state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING ? 30000 : 0;
  if (g_status_handle) SetServiceStatus(g_status_handle, &g_status);
}

static DWORD WINAPI control_handler(DWORD control, DWORD type, LPVOID data, LPVOID ctx) {
  (void)type;
  (void)data;
  (void)ctx;
  if (control == SERVICE_CONTROL_STOP) {
    SetEvent(g_stop_event);
    set_state(SERVICE_STOP_PENDING, 0);
    return NO_ERROR;
  }
  if (control == SERVICE_CONTROL_INTERROGATE) return NO_ERROR;
  return ERROR_CALL_NOT_IMPLEMENTED;
}

/* <dir>: the service's Parameters\PWD, else the directory of this executable. */
static void find_dir(void) {
  wchar_t key[512];
  DWORD size = sizeof g_dir;
  _snwprintf(key, 512, L"SYSTEM\\CurrentControlSet\\Services\\%ls\\Parameters", g_service_name);
  key[511] = 0;
  if (RegGetValueW(HKEY_LOCAL_MACHINE, key, L"PWD", RRF_RT_REG_SZ | RRF_RT_REG_EXPAND_SZ, NULL, g_dir, &size) == ERROR_SUCCESS && g_dir[0])
    return;
  GetModuleFileNameW(NULL, g_dir, PATH_CHARS);
  g_dir[PATH_CHARS - 1] = 0;
  wchar_t *slash = wcsrchr(g_dir, L'\\');
  if (slash) *slash = 0;
}

static void WINAPI service_main(DWORD argc, LPWSTR *argv) {
  if (argc > 0 && argv[0] && argv[0][0]) {
    wcsncpy(g_service_name, argv[0], 255);
    g_service_name[255] = 0;
  }
  g_status_handle = RegisterServiceCtrlHandlerExW(g_service_name, control_handler, NULL);
  if (!g_status_handle) return;
  g_stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
  set_state(SERVICE_START_PENDING, 0);
  find_dir();
  open_serial();
  set_state(SERVICE_RUNNING, 0);
  run_runner();
  set_state(SERVICE_STOPPED, 0);
}

int wmain(int argc, wchar_t **argv) {
  if (argc > 1 && wcscmp(argv[1], L"--version") == 0) {
    wprintf(L"cefirstboot %ls\n", CE_VERSION);
    return 0;
  }
  if (argc > 1 && wcscmp(argv[1], L"--console") == 0) {
    g_console = TRUE;
    find_dir();
    run_runner();
    return 0;
  }
  SERVICE_TABLE_ENTRYW table[] = {{g_service_name, service_main}, {NULL, NULL}};
  if (!StartServiceCtrlDispatcherW(table)) {
    if (GetLastError() == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
      fwprintf(stderr, L"cefirstboot: this is a service; use --console to run the scripts by hand.\n");
      return 2;
    }
    return 1;
  }
  return 0;
}
