/** SMB2 protocol constants (MS-SMB2 §2.2). Only what this client uses. */

export const Cmd = {
  NEGOTIATE: 0,
  SESSION_SETUP: 1,
  LOGOFF: 2,
  TREE_CONNECT: 3,
  TREE_DISCONNECT: 4,
  CREATE: 5,
  CLOSE: 6,
  FLUSH: 7,
  READ: 8,
  WRITE: 9,
  LOCK: 10,
  IOCTL: 11,
  CANCEL: 12,
  ECHO: 13,
  QUERY_DIRECTORY: 14,
  CHANGE_NOTIFY: 15,
  QUERY_INFO: 16,
  SET_INFO: 17,
  OPLOCK_BREAK: 18,
} as const;

export const CMD_NAMES = Object.fromEntries(Object.entries(Cmd).map(([k, v]) => [v, k])) as Record<number, string>;

/** Header Flags (§2.2.1.2). */
export const HdrFlags = {
  SERVER_TO_REDIR: 0x1,
  ASYNC_COMMAND: 0x2,
  RELATED_OPERATIONS: 0x4,
  SIGNED: 0x8,
} as const;

export const Dialect = {
  SMB2_1: 0x0210,
  SMB3_0: 0x0300,
  SMB3_0_2: 0x0302,
  SMB3_1_1: 0x0311,
} as const;

export const DIALECT_NAMES: Record<number, string> = { 0x0202: '2.0.2', 0x0210: '2.1', 0x0300: '3.0', 0x0302: '3.0.2', 0x0311: '3.1.1' };

export const SecurityMode = { SIGNING_ENABLED: 0x1, SIGNING_REQUIRED: 0x2 } as const;

/** Global capabilities (§2.2.3). */
export const Cap = {
  DFS: 0x1,
  LEASING: 0x2,
  LARGE_MTU: 0x4,
  MULTI_CHANNEL: 0x8,
  PERSISTENT_HANDLES: 0x10,
  DIRECTORY_LEASING: 0x20,
  ENCRYPTION: 0x40,
} as const;

export const NegCtx = {
  PREAUTH_INTEGRITY: 0x0001,
  ENCRYPTION: 0x0002,
  SIGNING: 0x0008,
} as const;

export const HashAlg = { SHA512: 0x0001 } as const;
export const Cipher = { AES128_CCM: 0x0001, AES128_GCM: 0x0002 } as const;
export const SigningAlg = { HMAC_SHA256: 0x0000, AES_CMAC: 0x0001, AES_GMAC: 0x0002 } as const;

export const SessionFlags = { IS_GUEST: 0x1, IS_NULL: 0x2, ENCRYPT_DATA: 0x4 } as const;
export const ShareFlags = { ENCRYPT_DATA: 0x8000 } as const;
export const ShareType = { DISK: 1, PIPE: 2, PRINT: 3 } as const;

/** Access mask bits (MS-SMB2 §2.2.13.1.1). */
export const Access = {
  FILE_READ_DATA: 0x1,
  FILE_WRITE_DATA: 0x2,
  FILE_APPEND_DATA: 0x4,
  FILE_READ_EA: 0x8,
  FILE_WRITE_EA: 0x10,
  FILE_READ_ATTRIBUTES: 0x80,
  FILE_WRITE_ATTRIBUTES: 0x100,
  DELETE: 0x10000,
  READ_CONTROL: 0x20000,
  SYNCHRONIZE: 0x100000,
  MAXIMUM_ALLOWED: 0x02000000,
  GENERIC_ALL: 0x10000000,
  GENERIC_WRITE: 0x40000000,
  GENERIC_READ: 0x80000000,
} as const;

export const ShareAccess = { READ: 1, WRITE: 2, DELETE: 4 } as const;

export const Disposition = {
  SUPERSEDE: 0,
  OPEN: 1,
  CREATE: 2,
  OPEN_IF: 3,
  OVERWRITE: 4,
  OVERWRITE_IF: 5,
} as const;

export const CreateOptions = {
  DIRECTORY_FILE: 0x1,
  WRITE_THROUGH: 0x2,
  SEQUENTIAL_ONLY: 0x4,
  NON_DIRECTORY_FILE: 0x40,
  RANDOM_ACCESS: 0x800,
  DELETE_ON_CLOSE: 0x1000,
} as const;

export const FileAttr = { READONLY: 0x1, HIDDEN: 0x2, SYSTEM: 0x4, DIRECTORY: 0x10, ARCHIVE: 0x20, NORMAL: 0x80 } as const;

export const InfoType = { FILE: 1, FILESYSTEM: 2, SECURITY: 3, QUOTA: 4 } as const;

/** File information classes (MS-FSCC §2.4). */
export const FileInfo = {
  DIRECTORY: 1,
  BASIC: 4,
  STANDARD: 5,
  RENAME: 10,
  DISPOSITION: 13,
  ALLOCATION: 19,
  END_OF_FILE: 20,
  ID_BOTH_DIRECTORY: 37,
} as const;

/** File system information classes (MS-FSCC §2.5). */
export const FsInfo = { SIZE: 3, FULL_SIZE: 7 } as const;

export const HEADER_SIZE = 64;
