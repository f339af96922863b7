/**
 * Connection set-up: NEGOTIATE (dialect, capabilities, 3.1.1 contexts) and SESSION_SETUP with
 * NTLMv2 in SPNEGO, pre-authentication integrity (SHA-512 over the negotiate and session set-up
 * messages, MS-SMB2 §3.2.5.2 / §3.2.5.3.1), key derivation, verification of the signed final
 * session set-up response, guest refusal, and the signing/encryption decisions.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Connection, type SessionState } from './connection.js';
import { Cap, Cipher, Cmd, Dialect, DIALECT_NAMES, HdrFlags, SecurityMode, SessionFlags, SigningAlg } from './packets/constants.js';
import { negotiateRequest, parseNegotiateResponse, type NegotiateResponse } from './packets/negotiate.js';
import { parseSessionSetupResponse, sessionSetupRequest } from './packets/session.js';
import { NtlmClient } from './ntlm.js';
import { mechTypeList, negTokenInit, negTokenRespClient, parseNegTokenResp } from './spnego.js';
import { smb30Keys, smb311Keys } from './crypto/kdf.js';
import { createSigner, verifyMessage } from './signing.js';
import { Encryptor } from './encryption.js';
import { Status } from './status.js';
import { CeError } from '../../core/errors.js';

export interface SecurityOptions {
  /** Dialects to offer, lowest first (default 2.1, 3.0, 3.0.2, 3.1.1). */
  dialects?: number[];
  /** Always sign, even if the server does not require it. */
  sign?: boolean;
  /** Always encrypt (needs SMB 3.x). */
  encrypt?: boolean;
  /** Accept a guest or anonymous session (refused by default). */
  allowGuest?: boolean;
  /** Cipher preference for 3.1.1. */
  ciphers?: number[];
}

export interface Credential {
  user: string;
  password: string;
  domain?: string;
}

export interface SessionInfo {
  dialect: string;
  signing: string | null;
  encryption: string | null;
  guest: boolean;
  maxReadSize: number;
  maxWriteSize: number;
  maxTransactSize: number;
  cipher?: number;
}

export const ALL_DIALECTS = [Dialect.SMB2_1, Dialect.SMB3_0, Dialect.SMB3_0_2, Dialect.SMB3_1_1];

function sha512(...parts: Buffer[]): Buffer {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
}

export async function negotiate(conn: Connection, opts: SecurityOptions): Promise<{ neg: NegotiateResponse; preauth: Buffer }> {
  const dialects = opts.dialects ?? ALL_DIALECTS;
  let preauth: Buffer = Buffer.alloc(64);
  let reqBytes: Buffer[] = [];
  const reply = await conn.request(
    Cmd.NEGOTIATE,
    negotiateRequest({ dialects, clientGuid: randomBytes(16), signingRequired: !!opts.sign, ciphers: opts.ciphers }),
    { what: 'negotiate', onRequestBytes: (p) => (reqBytes = p.map((b) => Buffer.from(b))) },
  );
  const neg = parseNegotiateResponse(reply.msg);
  if (!dialects.includes(neg.dialect)) {
    throw new CeError('SMB_DIALECT_UNSUPPORTED', `The server chose SMB dialect ${DIALECT_NAMES[neg.dialect] ?? neg.dialect.toString(16)}, which was not offered.`, {
      hint: 'The server needs SMB 2.1 or later (SMB1 and 2.0.2 are not supported).',
      status: 502,
    });
  }
  if (neg.dialect === Dialect.SMB3_1_1) {
    preauth = sha512(preauth, ...reqBytes);
    preauth = sha512(preauth, reply.msg);
  }
  conn.largeMtu = neg.dialect >= Dialect.SMB2_1 && (neg.capabilities & Cap.LARGE_MTU) !== 0;
  return { neg, preauth };
}

function encryptionCipher(neg: NegotiateResponse): number | undefined {
  if (neg.dialect === Dialect.SMB3_1_1) return neg.cipher === Cipher.AES128_GCM || neg.cipher === Cipher.AES128_CCM ? neg.cipher : undefined;
  if (neg.dialect >= Dialect.SMB3_0 && neg.capabilities & Cap.ENCRYPTION) return Cipher.AES128_CCM;
  return undefined;
}

/** NTLMv2/SPNEGO session set-up; installs the session (keys, signing, encryption) on the connection. */
export async function sessionSetup(
  conn: Connection,
  neg: NegotiateResponse,
  preauthIn: Buffer,
  cred: Credential,
  opts: SecurityOptions,
): Promise<SessionInfo> {
  const anonymous = !cred.user;
  if (anonymous && !opts.allowGuest) {
    throw new CeError('SMB_GUEST_REFUSED', 'No user name given and guest access is not allowed.', {
      hint: 'Put the user in the URL (smb://user@server/share/...) or allow guest access explicitly.',
      status: 401,
    });
  }
  const is311 = neg.dialect === Dialect.SMB3_1_1;
  const serverRequiresSigning = (neg.securityMode & SecurityMode.SIGNING_REQUIRED) !== 0;
  const ntlm = new NtlmClient({ user: cred.user, password: cred.password, domain: cred.domain ?? '' }, { anonymous });
  let preauth = preauthIn;
  const hashReq = (parts: Buffer[]) => {
    if (is311) preauth = sha512(preauth, ...parts);
  };

  // Round 1: NEGOTIATE_MESSAGE → CHALLENGE_MESSAGE
  const r1 = await conn.request(Cmd.SESSION_SETUP, sessionSetupRequest(negTokenInit(ntlm.negotiate()), !!opts.sign), {
    what: 'session setup',
    okStatus: [Status.MORE_PROCESSING_REQUIRED],
    onRequestBytes: hashReq,
  });
  if (r1.status !== Status.MORE_PROCESSING_REQUIRED) throw new CeError('SMB_AUTH_PROTOCOL', 'The server ended authentication early.', { status: 502 });
  if (is311) preauth = sha512(preauth, r1.msg);
  const sessionId = r1.header.sessionId;
  const t1 = parseNegTokenResp(parseSessionSetupResponse(r1.msg).securityBuffer);
  if (t1.negState === 2 || !t1.responseToken) {
    throw new CeError('SMB_AUTH_UNSUPPORTED', 'The server refused NTLM authentication.', {
      hint: 'The server may accept only Kerberos; NTLMv2 must be allowed for the CE.',
      status: 401,
    });
  }

  // Round 2: AUTHENTICATE_MESSAGE (+ mechListMIC) → SUCCESS
  const auth = ntlm.authenticate(t1.responseToken);
  const mic = anonymous ? undefined : ntlm.sign(mechTypeList());
  const r2 = await conn.request(Cmd.SESSION_SETUP, sessionSetupRequest(negTokenRespClient(auth, mic), !!opts.sign), {
    what: 'session setup',
    sessionId,
    onRequestBytes: hashReq,
  });
  const { sessionFlags, securityBuffer } = parseSessionSetupResponse(r2.msg);
  const guest = (sessionFlags & (SessionFlags.IS_GUEST | SessionFlags.IS_NULL)) !== 0;
  if (guest && !opts.allowGuest) {
    conn.close();
    throw new CeError('SMB_GUEST_REFUSED', 'The server logged the user on as guest (unknown user or "map to guest"), which is refused.', {
      hint: 'Check the user name and password; pass allowGuest only if a guest session is really wanted.',
      status: 401,
    });
  }
  if (securityBuffer.length) {
    const t2 = parseNegTokenResp(securityBuffer);
    if (t2.negState === 2) throw new CeError('SMB_LOGON_FAILURE', 'The server rejected the authentication.', { status: 401 });
    if (t2.mechListMic && !anonymous && !ntlm.verify(mechTypeList(), t2.mechListMic)) {
      throw new CeError('SMB_INTEGRITY', 'The server mechListMIC does not verify.', { hint: 'Someone may be tampering with the connection.', status: 502 });
    }
  }

  const session: SessionState = { id: sessionId, signingRequired: false, encryptAll: false };
  const info: SessionInfo = {
    dialect: DIALECT_NAMES[neg.dialect]!,
    signing: null,
    encryption: null,
    guest,
    maxReadSize: neg.maxReadSize,
    maxWriteSize: neg.maxWriteSize,
    maxTransactSize: neg.maxTransactSize,
  };
  if (!guest) {
    const sessionKey = ntlm.sessionKey!;
    let signingKey = sessionKey;
    let keys;
    if (is311) keys = smb311Keys(sessionKey, preauth);
    else if (neg.dialect >= Dialect.SMB3_0) keys = smb30Keys(sessionKey);
    if (keys) signingKey = keys.signingKey;
    const signingAlg = is311 ? (neg.signingAlg ?? SigningAlg.AES_CMAC) : undefined;
    session.signer = createSigner(neg.dialect, signingAlg, signingKey);
    // MS-SMB2 §3.2.5.3.1: the final 3.1.1 response is signed; verify it (proves both sides derived the same keys).
    if (r2.header.flags & HdrFlags.SIGNED) {
      if (!verifyMessage(session.signer, r2.msg)) {
        throw new CeError('SMB_INTEGRITY', 'The signature of the final session set-up response does not verify.', {
          hint: 'A wrong key derivation or tampering; the session is not used.',
          status: 502,
        });
      }
    } else if (is311) {
      throw new CeError('SMB_INTEGRITY', 'The final SMB 3.1.1 session set-up response is not signed.', { status: 502 });
    }
    session.signingRequired = serverRequiresSigning || !!opts.sign;
    const cipher = encryptionCipher(neg);
    if (keys && cipher !== undefined) {
      session.encryptor = new Encryptor(cipher, keys.encryptionKey, keys.decryptionKey, sessionId);
      info.cipher = cipher;
    }
    session.encryptAll = (sessionFlags & SessionFlags.ENCRYPT_DATA) !== 0 || !!opts.encrypt;
    if (session.encryptAll && !session.encryptor) {
      conn.close();
      throw new CeError('SMB_ENCRYPTION_UNSUPPORTED', `Encryption is required but the server negotiated SMB ${info.dialect} without a usable cipher.`, {
        hint: 'Encryption needs SMB 3.0 or later with AES-128-CCM/GCM; enable SMB3 on the server.',
        status: 502,
      });
    }
    if (session.encryptAll) info.encryption = session.encryptor!.algorithm;
    if (session.signingRequired && !session.encryptAll) info.signing = session.signer.algorithm;
  } else if (serverRequiresSigning) {
    conn.close();
    throw new CeError('SMB_GUEST_REFUSED', 'The server requires signing, which a guest session cannot do.', { status: 401 });
  }
  conn.session = session;
  return info;
}
