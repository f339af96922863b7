/**
 * SPNEGO (RFC 4178, MS-SPNG) wrapping of NTLMSSP tokens for SMB2 SESSION_SETUP security buffers:
 * the client's NegTokenInit (GSS-API InitialContextToken, mech list = [NTLMSSP]), the server's
 * NegTokenResp, and the client's NegTokenResp carrying the AUTHENTICATE message and mechListMIC.
 * Only the DER subset SPNEGO uses is implemented.
 */
import { CeError } from '../../core/errors.js';

const OID_SPNEGO = Buffer.from('2b0601050502', 'hex'); // 1.3.6.1.5.5.2
export const OID_NTLMSSP = Buffer.from('2b06010401823702020a', 'hex'); // 1.3.6.1.4.1.311.2.2.10

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  if (n < 0x10000) return Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
}

export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

interface Tlv {
  tag: number;
  value: Buffer;
  end: number;
}

function readTlv(buf: Buffer, off: number): Tlv {
  if (off + 2 > buf.length) throw bad();
  const tag = buf[off]!;
  let l = buf[off + 1]!;
  let p = off + 2;
  if (l & 0x80) {
    const n = l & 0x7f;
    if (n < 1 || n > 3 || p + n > buf.length) throw bad();
    l = 0;
    for (let i = 0; i < n; i++) l = (l << 8) | buf[p + i]!;
    p += n;
  }
  if (p + l > buf.length) throw bad();
  return { tag, value: buf.subarray(p, p + l), end: p + l };
}

function children(buf: Buffer): Tlv[] {
  const out: Tlv[] = [];
  let off = 0;
  while (off < buf.length) {
    const t = readTlv(buf, off);
    out.push(t);
    off = t.end;
  }
  return out;
}

function bad(): CeError {
  return new CeError('SMB_AUTH_PROTOCOL', 'Bad SPNEGO token from the server.', {
    hint: 'The server answered with a malformed authentication token; check that it is an SMB server.',
    status: 502,
  });
}

/** The DER MechTypeList the mechListMIC is computed over (RFC 4178 §5). */
export function mechTypeList(): Buffer {
  return tlv(0x30, tlv(0x06, OID_NTLMSSP));
}

/** GSS InitialContextToken with NegTokenInit { mechTypes, mechToken }. */
export function negTokenInit(mechToken: Buffer): Buffer {
  const init = tlv(0x30, tlv(0xa0, mechTypeList()), tlv(0xa2, tlv(0x04, mechToken)));
  return tlv(0x60, tlv(0x06, OID_SPNEGO), tlv(0xa0, init));
}

/** NegTokenResp { responseToken, mechListMIC } from the client. */
export function negTokenRespClient(responseToken: Buffer, mechListMic?: Buffer): Buffer {
  const parts = [tlv(0xa2, tlv(0x04, responseToken))];
  if (mechListMic) parts.push(tlv(0xa3, tlv(0x04, mechListMic)));
  return tlv(0xa1, tlv(0x30, ...parts));
}

export interface NegTokenResp {
  /** 0 accept-completed, 1 accept-incomplete, 2 reject, 3 request-mic */
  negState?: number;
  supportedMech?: Buffer;
  responseToken?: Buffer;
  mechListMic?: Buffer;
}

export function parseNegTokenResp(buf: Buffer): NegTokenResp {
  const outer = readTlv(buf, 0);
  if (outer.tag !== 0xa1) throw bad();
  const seq = readTlv(outer.value, 0);
  if (seq.tag !== 0x30) throw bad();
  const out: NegTokenResp = {};
  for (const c of children(seq.value)) {
    const inner = readTlv(c.value, 0);
    if (c.tag === 0xa0 && inner.tag === 0x0a) out.negState = inner.value[0];
    else if (c.tag === 0xa1 && inner.tag === 0x06) out.supportedMech = Buffer.from(inner.value);
    else if (c.tag === 0xa2 && inner.tag === 0x04) out.responseToken = Buffer.from(inner.value);
    else if (c.tag === 0xa3 && inner.tag === 0x04) out.mechListMic = Buffer.from(inner.value);
  }
  return out;
}
