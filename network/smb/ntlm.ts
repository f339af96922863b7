/**
 * NTLMv2 client (MS-NLMP): NEGOTIATE → CHALLENGE → AUTHENTICATE with extended session security,
 * 128-bit keys, key exchange (a random exported session key sent RC4-encrypted, §3.1.5.1.2) and the
 * MIC over the three messages (§3.1.5.1.2, set when the server sent MsvAvTimestamp).
 * Also the NTLMSSP MAC (§3.4.4.2) used for the SPNEGO mechListMIC.
 * The password never leaves this object except as the NT hash inside HMACs.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { md4 } from './crypto/md4.js';
import { Rc4 } from './crypto/rc4.js';
import { CeError } from '../../core/errors.js';

export const NTLMSSP_SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');

/** NegotiateFlags (MS-NLMP §2.2.2.5). */
export const NTLM_FLAGS = {
  UNICODE: 0x00000001,
  REQUEST_TARGET: 0x00000004,
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  NTLM: 0x00000200,
  ANONYMOUS: 0x00000800,
  ALWAYS_SIGN: 0x00008000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  N128: 0x20000000,
  KEY_EXCH: 0x40000000,
  N56: 0x80000000,
} as const;

/** AV_PAIR ids (§2.2.2.1). */
const AV = { EOL: 0, NB_COMPUTER: 1, NB_DOMAIN: 2, FLAGS: 6, TIMESTAMP: 7 } as const;

export interface NtlmCredentials {
  user: string;
  password: string;
  domain: string;
  workstation?: string;
}

/** NTOWFv2 (§3.3.2): HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(Uppercase(User) + UserDom)). */
export function ntowfv2(password: string, user: string, domain: string): Buffer {
  const nt = md4(Buffer.from(password, 'utf16le'));
  return createHmac('md5', nt).update(Buffer.from(user.toUpperCase() + domain, 'utf16le')).digest();
}

export interface Ntlmv2Result {
  ntChallengeResponse: Buffer;
  lmChallengeResponse: Buffer;
  ntProofStr: Buffer;
  sessionBaseKey: Buffer;
}

/** The NTLMv2 responses (§3.3.2). `serverName` is the AV pair list put in the blob. */
export function computeNtlmv2(
  responseKey: Buffer,
  serverChallenge: Buffer,
  clientChallenge: Buffer,
  time: Buffer,
  serverName: Buffer,
  zeroLm: boolean,
): Ntlmv2Result {
  const temp = Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]), time, clientChallenge, Buffer.alloc(4), serverName, Buffer.alloc(4)]);
  const ntProofStr = createHmac('md5', responseKey).update(serverChallenge).update(temp).digest();
  const lm = zeroLm
    ? Buffer.alloc(24)
    : Buffer.concat([createHmac('md5', responseKey).update(serverChallenge).update(clientChallenge).digest(), clientChallenge]);
  return {
    ntChallengeResponse: Buffer.concat([ntProofStr, temp]),
    lmChallengeResponse: lm,
    ntProofStr,
    sessionBaseKey: createHmac('md5', responseKey).update(ntProofStr).digest(),
  };
}

interface Challenge {
  flags: number;
  serverChallenge: Buffer;
  targetInfo: Buffer;
  raw: Buffer;
}

function bad(msg: string): CeError {
  return new CeError('SMB_AUTH_PROTOCOL', `Bad NTLM message from the server: ${msg}.`, {
    hint: 'The server answered with a malformed authentication message; check that it is an SMB server.',
    status: 502,
  });
}

export function parseChallenge(buf: Buffer): Challenge {
  if (buf.length < 48 || !buf.subarray(0, 8).equals(NTLMSSP_SIGNATURE) || buf.readUInt32LE(8) !== 2) throw bad('not a CHALLENGE_MESSAGE');
  const flags = buf.readUInt32LE(20);
  const serverChallenge = Buffer.from(buf.subarray(24, 32));
  const tiLen = buf.readUInt16LE(40);
  const tiOff = buf.readUInt32LE(44);
  if (tiOff + tiLen > buf.length) throw bad('target info out of range');
  return { flags, serverChallenge, targetInfo: Buffer.from(buf.subarray(tiOff, tiOff + tiLen)), raw: buf };
}

export function parseAvPairs(buf: Buffer): Array<{ id: number; value: Buffer }> {
  const out: Array<{ id: number; value: Buffer }> = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const id = buf.readUInt16LE(off);
    const len = buf.readUInt16LE(off + 2);
    if (id === AV.EOL) return out;
    if (off + 4 + len > buf.length) throw bad('AV pair out of range');
    out.push({ id, value: buf.subarray(off + 4, off + 4 + len) });
    off += 4 + len;
  }
  throw bad('AV pairs without MsvAvEOL');
}

export function encodeAvPairs(pairs: Array<{ id: number; value: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const p of pairs) {
    const h = Buffer.alloc(4);
    h.writeUInt16LE(p.id, 0);
    h.writeUInt16LE(p.value.length, 2);
    parts.push(h, p.value);
  }
  parts.push(Buffer.alloc(4)); // MsvAvEOL
  return Buffer.concat(parts);
}

const VERSION = Buffer.from([10, 0, 0x61, 0x4a, 0, 0, 0, 15]); // Windows 10.0 build 19041, NTLMSSP_REVISION_W2K3

/** Keys for the NTLMSSP MAC in one direction (§3.4.5.2, §3.4.5.3). */
class NtlmMac {
  private readonly signKey: Buffer;
  private readonly seal: Rc4;
  private seq = 0;
  constructor(
    exportedSessionKey: Buffer,
    direction: 'client-to-server' | 'server-to-client',
    private readonly keyExch: boolean,
  ) {
    this.signKey = createHash('md5').update(exportedSessionKey).update(`session key to ${direction} signing key magic constant\0`, 'latin1').digest();
    const sealKey = createHash('md5').update(exportedSessionKey).update(`session key to ${direction} sealing key magic constant\0`, 'latin1').digest();
    this.seal = new Rc4(sealKey);
  }
  /** NTLMSSP_MESSAGE_SIGNATURE with extended session security: Version(1) ‖ Checksum(8) ‖ SeqNum. */
  sign(message: Buffer): Buffer {
    const seq = Buffer.alloc(4);
    seq.writeUInt32LE(this.seq++);
    let checksum: Buffer = createHmac('md5', this.signKey).update(seq).update(message).digest().subarray(0, 8);
    if (this.keyExch) checksum = this.seal.update(checksum);
    return Buffer.concat([Buffer.from([1, 0, 0, 0]), checksum, seq]);
  }
}

export interface NtlmClientOptions {
  /** Anonymous (null session) authentication: only when the caller allows guest access. */
  anonymous?: boolean;
  /** For tests: fixed client challenge, time and random session key. */
  fixed?: { clientChallenge: Buffer; time?: Buffer; randomSessionKey: Buffer };
}

export class NtlmClient {
  private negotiateMsg?: Buffer;
  private flags = 0;
  /** The key SMB uses as Session.SessionKey (§3.1.5.1.2 ExportedSessionKey). */
  sessionKey?: Buffer;
  private clientMac?: NtlmMac;
  private serverMac?: NtlmMac;

  constructor(
    private readonly creds: NtlmCredentials,
    private readonly opts: NtlmClientOptions = {},
  ) {}

  negotiate(): Buffer {
    const F = NTLM_FLAGS;
    const flags =
      F.UNICODE | F.REQUEST_TARGET | F.SIGN | F.SEAL | F.NTLM | F.ALWAYS_SIGN | F.EXTENDED_SESSIONSECURITY | F.VERSION | F.N128 | F.KEY_EXCH | F.N56 |
      (this.opts.anonymous ? F.ANONYMOUS : 0);
    const m = Buffer.alloc(40);
    NTLMSSP_SIGNATURE.copy(m, 0);
    m.writeUInt32LE(1, 8);
    m.writeUInt32LE(flags >>> 0, 12);
    // DomainNameFields and WorkstationFields empty (offset = end of message)
    m.writeUInt32LE(40, 20);
    m.writeUInt32LE(40, 28);
    VERSION.copy(m, 32);
    this.negotiateMsg = m;
    return m;
  }

  authenticate(challengeBuf: Buffer): Buffer {
    if (!this.negotiateMsg) throw new Error('negotiate() first');
    const ch = parseChallenge(challengeBuf);
    const F = NTLM_FLAGS;
    const ours = this.negotiateMsg.readUInt32LE(12);
    if (!(ch.flags & F.EXTENDED_SESSIONSECURITY)) {
      throw new CeError('SMB_AUTH_PROTOCOL', 'The server does not support NTLMv2 with extended session security.', {
        hint: 'Enable NTLMv2 on the server (LmCompatibilityLevel ≥ 3 / Samba "ntlm auth = ntlmv2-only").',
        status: 502,
      });
    }
    this.flags = (ours & ch.flags) >>> 0;
    const anonymous = !!this.opts.anonymous;
    const user = anonymous ? '' : this.creds.user;
    const domain = anonymous ? '' : this.creds.domain;
    const workstation = (this.creds.workstation ?? 'CE').toUpperCase();
    const pairs = parseAvPairs(ch.targetInfo);
    const ts = pairs.find((p) => p.id === AV.TIMESTAMP);
    const withMic = !anonymous && !!ts;

    let lm: Buffer;
    let nt: Buffer;
    let keyExchangeKey: Buffer;
    if (anonymous) {
      lm = Buffer.alloc(1);
      nt = Buffer.alloc(0);
      keyExchangeKey = Buffer.alloc(16);
    } else {
      if (withMic) {
        const fl = pairs.find((p) => p.id === AV.FLAGS);
        const v = Buffer.alloc(4);
        v.writeUInt32LE(((fl ? fl.value.readUInt32LE(0) : 0) | 0x2) >>> 0); // 0x2: the MIC field is filled
        if (fl) fl.value = v;
        else pairs.push({ id: AV.FLAGS, value: v });
      }
      const time = ts ? Buffer.from(ts.value) : (this.opts.fixed?.time ?? fileTimeNow());
      const clientChallenge = this.opts.fixed?.clientChallenge ?? randomBytes(8);
      const key = ntowfv2(this.creds.password, user, domain);
      const r = computeNtlmv2(key, ch.serverChallenge, clientChallenge, time, encodeAvPairs(pairs), !!ts);
      lm = r.lmChallengeResponse;
      nt = r.ntChallengeResponse;
      keyExchangeKey = r.sessionBaseKey; // NTLMv2: KeyExchangeKey = SessionBaseKey (§3.4.5.1)
    }
    let encryptedKey: Buffer = Buffer.alloc(0);
    let exported: Buffer = keyExchangeKey;
    if (this.flags & F.KEY_EXCH && !anonymous) {
      exported = this.opts.fixed?.randomSessionKey ?? randomBytes(16);
      encryptedKey = new Rc4(keyExchangeKey).update(exported);
    }
    this.sessionKey = exported;
    const keyExch = !!(this.flags & F.KEY_EXCH);
    this.clientMac = new NtlmMac(exported, 'client-to-server', keyExch);
    this.serverMac = new NtlmMac(exported, 'server-to-client', keyExch);

    const fields: Buffer[] = [lm, nt, Buffer.from(domain, 'utf16le'), Buffer.from(user, 'utf16le'), Buffer.from(workstation, 'utf16le'), encryptedKey];
    const head = 88;
    const total = head + fields.reduce((n, b) => n + b.length, 0);
    const m = Buffer.alloc(total);
    NTLMSSP_SIGNATURE.copy(m, 0);
    m.writeUInt32LE(3, 8);
    // Payload order: domain, user, workstation, LM, NT, key (any order is valid; offsets say where).
    const order = [2, 3, 4, 0, 1, 5];
    const fieldPos = [12, 20, 28, 36, 44, 52]; // Lm, Nt, Domain, User, Workstation, EncryptedRandomSessionKey
    let off = head;
    for (const idx of order) {
      const b = fields[idx]!;
      m.writeUInt16LE(b.length, fieldPos[idx]!);
      m.writeUInt16LE(b.length, fieldPos[idx]! + 2);
      m.writeUInt32LE(off, fieldPos[idx]! + 4);
      b.copy(m, off);
      off += b.length;
    }
    m.writeUInt32LE(this.flags, 60);
    VERSION.copy(m, 64);
    if (withMic) {
      const mic = createHmac('md5', exported).update(this.negotiateMsg).update(ch.raw).update(m).digest();
      mic.copy(m, 72);
    }
    return m;
  }

  get hasMic(): boolean {
    return !!this.clientMac;
  }

  /** GSS_GetMIC for the SPNEGO mechListMIC. */
  sign(message: Buffer): Buffer {
    if (!this.clientMac) throw new Error('no session key yet');
    return this.clientMac.sign(message);
  }

  /** Check the server's mechListMIC. */
  verify(message: Buffer, signature: Buffer): boolean {
    if (!this.serverMac) return false;
    return this.serverMac.sign(message).equals(signature);
  }
}

/** Current time as a Windows FILETIME (100 ns since 1601), little-endian. */
export function fileTimeNow(): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE((BigInt(Date.now()) + 11644473600000n) * 10000n);
  return b;
}
