/**
 * NT status codes (MS-ERREF §2.3) → typed CeError with a hint. The code name goes to `details`
 * (`ntStatus`), never the credentials or the server's raw bytes.
 */
import { CeError } from '../../core/errors.js';

export const Status = {
  SUCCESS: 0x00000000,
  PENDING: 0x00000103,
  BUFFER_OVERFLOW: 0x80000005,
  NO_MORE_FILES: 0x80000006,
  MORE_PROCESSING_REQUIRED: 0xc0000016,
  INVALID_HANDLE: 0xc0000008,
  INVALID_PARAMETER: 0xc000000d,
  NO_SUCH_FILE: 0xc000000f,
  INVALID_DEVICE_REQUEST: 0xc0000010,
  END_OF_FILE: 0xc0000011,
  ACCESS_DENIED: 0xc0000022,
  BUFFER_TOO_SMALL: 0xc0000023,
  OBJECT_NAME_INVALID: 0xc0000033,
  OBJECT_NAME_NOT_FOUND: 0xc0000034,
  OBJECT_NAME_COLLISION: 0xc0000035,
  OBJECT_PATH_NOT_FOUND: 0xc000003a,
  SHARING_VIOLATION: 0xc0000043,
  QUOTA_EXCEEDED: 0xc0000044,
  DELETE_PENDING: 0xc0000056,
  PRIVILEGE_NOT_HELD: 0xc0000061,
  WRONG_PASSWORD: 0xc000006a,
  LOGON_FAILURE: 0xc000006d,
  ACCOUNT_RESTRICTION: 0xc000006e,
  INVALID_LOGON_HOURS: 0xc000006f,
  INVALID_WORKSTATION: 0xc0000070,
  PASSWORD_EXPIRED: 0xc0000071,
  ACCOUNT_DISABLED: 0xc0000072,
  DISK_FULL: 0xc000007f,
  INSUFFICIENT_RESOURCES: 0xc000009a,
  MEDIA_WRITE_PROTECTED: 0xc00000a2,
  FILE_IS_A_DIRECTORY: 0xc00000ba,
  NOT_SUPPORTED: 0xc00000bb,
  NETWORK_NAME_DELETED: 0xc00000c9,
  BAD_NETWORK_NAME: 0xc00000cc,
  DIRECTORY_NOT_EMPTY: 0xc0000101,
  NOT_A_DIRECTORY: 0xc0000103,
  CANCELLED: 0xc0000120,
  FILE_CLOSED: 0xc0000128,
  LOGON_TYPE_NOT_GRANTED: 0xc000015b,
  USER_SESSION_DELETED: 0xc0000203,
  CONNECTION_DISCONNECTED: 0xc000020c,
  PASSWORD_MUST_CHANGE: 0xc0000224,
  ACCOUNT_LOCKED_OUT: 0xc0000234,
  PATH_NOT_COVERED: 0xc0000257,
  NETWORK_SESSION_EXPIRED: 0xc000035c,
} as const;

export const STATUS_NAMES: Record<number, string> = Object.fromEntries(Object.entries(Status).map(([k, v]) => [v, `STATUS_${k}`]));

type Mapping = [code: string, http: number, message: string, hint: string];

const AUTH_HINT = 'Check the user name, domain and password (CE_SMB_PASSWORD or --credentials-file).';

const MAP: Record<number, Mapping> = {
  [Status.LOGON_FAILURE]: ['SMB_LOGON_FAILURE', 401, 'The server refused the user name or password', AUTH_HINT],
  [Status.WRONG_PASSWORD]: ['SMB_LOGON_FAILURE', 401, 'The server refused the password', AUTH_HINT],
  [Status.ACCOUNT_DISABLED]: ['SMB_ACCOUNT_DISABLED', 401, 'The account is disabled', 'Ask the server administrator to enable the account.'],
  [Status.ACCOUNT_LOCKED_OUT]: ['SMB_ACCOUNT_LOCKED', 401, 'The account is locked out', 'Wait for the lockout to expire or ask the administrator to unlock it.'],
  [Status.PASSWORD_EXPIRED]: ['SMB_PASSWORD_EXPIRED', 401, 'The password has expired', 'Change the password of the account.'],
  [Status.PASSWORD_MUST_CHANGE]: ['SMB_PASSWORD_EXPIRED', 401, 'The password must be changed before logging on', 'Change the password of the account.'],
  [Status.ACCOUNT_RESTRICTION]: ['SMB_ACCOUNT_RESTRICTION', 401, 'The account may not log on from here (restriction, e.g. empty password)', 'Check the account restrictions.'],
  [Status.INVALID_LOGON_HOURS]: ['SMB_ACCOUNT_RESTRICTION', 401, 'The account may not log on at this time', 'Check the account logon hours.'],
  [Status.INVALID_WORKSTATION]: ['SMB_ACCOUNT_RESTRICTION', 401, 'The account may not log on from this workstation', 'Check the account restrictions.'],
  [Status.LOGON_TYPE_NOT_GRANTED]: ['SMB_ACCOUNT_RESTRICTION', 401, 'The account is not granted network logon', 'Grant the account "Access this computer from the network".'],
  [Status.ACCESS_DENIED]: ['SMB_ACCESS_DENIED', 403, 'Access denied', 'Check the share and file permissions of the account (read-only share? signing or encryption required?).'],
  [Status.PRIVILEGE_NOT_HELD]: ['SMB_ACCESS_DENIED', 403, 'The account lacks a privilege for this operation', 'Check the account permissions.'],
  [Status.MEDIA_WRITE_PROTECTED]: ['SMB_ACCESS_DENIED', 403, 'The share is write-protected', 'Use a writable share.'],
  [Status.BAD_NETWORK_NAME]: ['SMB_BAD_NETWORK_NAME', 404, 'The share does not exist on the server', 'Check the share name in the URL (smb://server/SHARE/path).'],
  [Status.NETWORK_NAME_DELETED]: ['SMB_BAD_NETWORK_NAME', 404, 'The share was removed', 'Check the share on the server.'],
  [Status.OBJECT_NAME_NOT_FOUND]: ['SMB_NOT_FOUND', 404, 'The file does not exist', 'Check the path in the URL.'],
  [Status.NO_SUCH_FILE]: ['SMB_NOT_FOUND', 404, 'The file does not exist', 'Check the path in the URL.'],
  [Status.OBJECT_PATH_NOT_FOUND]: ['SMB_PATH_NOT_FOUND', 404, 'A directory of the path does not exist', 'Create the directory on the share or fix the path.'],
  [Status.OBJECT_NAME_INVALID]: ['SMB_BAD_PATH', 422, 'The file name is not valid on the server', 'Avoid the characters \\ / : * ? " < > | in names.'],
  [Status.OBJECT_NAME_COLLISION]: ['SMB_OUTPUT_EXISTS', 409, 'The file exists already', 'Choose another name or pass --overwrite.'],
  [Status.SHARING_VIOLATION]: ['SMB_SHARING_VIOLATION', 409, 'The file is open elsewhere and cannot be shared', 'Close the program that holds the file open and retry.'],
  [Status.DELETE_PENDING]: ['SMB_DELETE_PENDING', 409, 'The file is being deleted', 'Retry after the file is gone.'],
  [Status.FILE_IS_A_DIRECTORY]: ['SMB_IS_A_DIRECTORY', 422, 'The path is a directory', 'Give a file path.'],
  [Status.NOT_A_DIRECTORY]: ['SMB_NOT_A_DIRECTORY', 422, 'A component of the path is not a directory', 'Check the path.'],
  [Status.DIRECTORY_NOT_EMPTY]: ['SMB_DIRECTORY_NOT_EMPTY', 409, 'The directory is not empty', 'Remove its contents first.'],
  [Status.DISK_FULL]: ['SMB_DISK_FULL', 507, 'The share is full', 'Free space on the share or use another share.'],
  [Status.QUOTA_EXCEEDED]: ['SMB_QUOTA_EXCEEDED', 507, 'The account quota on the share is exhausted', 'Raise the quota or free space.'],
  [Status.INSUFFICIENT_RESOURCES]: ['SMB_SERVER_BUSY', 503, 'The server is out of resources', 'Retry later or lower the parallelism.'],
  [Status.USER_SESSION_DELETED]: ['SMB_SESSION_EXPIRED', 401, 'The server closed the session', 'Retry; the client reconnects.'],
  [Status.NETWORK_SESSION_EXPIRED]: ['SMB_SESSION_EXPIRED', 401, 'The session expired', 'Retry; the client reconnects.'],
  [Status.PATH_NOT_COVERED]: ['SMB_DFS_UNSUPPORTED', 422, 'The path is a DFS link', 'Use the target server and share directly; DFS referrals are not supported.'],
  [Status.NOT_SUPPORTED]: ['SMB_NOT_SUPPORTED', 422, 'The server does not support this operation', 'Check the server version and configuration.'],
  [Status.INVALID_PARAMETER]: ['SMB_INVALID_PARAMETER', 502, 'The server rejected a request parameter', 'This is a CE bug or a server incompatibility; the log has the details.'],
};

export function statusName(status: number): string {
  return STATUS_NAMES[status] ?? `0x${status.toString(16).padStart(8, '0')}`;
}

/** The typed error for a failed request. `what` says what we were doing ("open dir/file.vhdx"). */
export function smbStatusError(status: number, what: string): CeError {
  const m = MAP[status];
  const ntStatus = statusName(status);
  if (m) return new CeError(m[0], `${m[2]} (${what}: ${ntStatus}).`, { hint: m[3], status: m[1], details: { ntStatus } });
  return new CeError('SMB_REQUEST_FAILED', `The SMB server answered ${ntStatus} (${what}).`, {
    hint: 'See the NT status code; the server log may say more.',
    status: 502,
    details: { ntStatus },
  });
}

export function smbProtocolError(msg: string): CeError {
  return new CeError('SMB_PROTOCOL', `Malformed SMB message from the server: ${msg}.`, {
    hint: 'The server sent something this client does not understand; check it is an SMB 2.1+ server.',
    status: 502,
  });
}

export function connectionLost(server: string, cause?: unknown): CeError {
  return new CeError('SMB_CONNECTION_LOST', `The connection to ${server} was lost.`, {
    hint: 'Check the network and the server; the client reconnects and retries automatically a few times.',
    status: 503,
    cause,
  });
}

/** Errors after which reconnecting and retrying the same request makes sense. */
export function isRetryable(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === 'SMB_CONNECTION_LOST' || code === 'SMB_SESSION_EXPIRED' || code === 'SMB_TIMEOUT';
}
