// TOTP codes (RFC 6238: HOTP of RFC 4226 over 30-second steps, HMAC-SHA1,
// six digits) computed with Node's own crypto, so the flow checks the
// service's codes against an implementation written to the RFC rather than
// against the service's own. The RFC's test vector is checked on import: a
// slip here fails at once, not as a puzzling 401 later.
import { createHmac } from "node:crypto";

/** What an `otpauth://totp/…` URI says: the secret and how codes are made. */
export interface Totp {
  secret: Buffer;
  /** The secret as the URI spells it (base32, RFC 4648). */
  base32: string;
  digits: number;
  period: number;
  algorithm: string;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** Decodes base32 (RFC 4648), padded or not, in either case. */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/=+$/, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const bytes: number[] = [];
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) {
      throw new Error(`mismatch: ${JSON.stringify(char)} is not base32 (in ${text})`);
    }
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/** The code for the time `seconds` (Unix time). */
export function codeAt(totp: Totp, seconds: number): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(seconds / totp.period)));
  const mac = createHmac(totp.algorithm, totp.secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const truncated = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(truncated % 10 ** totp.digits).padStart(totp.digits, "0");
}

/** Reads an `otpauth://totp/…` URI; parameters it leaves out take the RFC defaults. */
export function parseOtpauthUri(uri: string): Totp {
  const url = new URL(uri);
  if (url.protocol !== "otpauth:" || url.host !== "totp") {
    throw new Error(`mismatch: ${uri} is not an otpauth://totp/ URI`);
  }
  const base32 = url.searchParams.get("secret");
  if (!base32) {
    throw new Error(`mismatch: ${uri} carries no secret`);
  }
  return {
    secret: base32Decode(base32),
    base32,
    digits: Number(url.searchParams.get("digits") ?? "6"),
    period: Number(url.searchParams.get("period") ?? "30"),
    algorithm: (url.searchParams.get("algorithm") ?? "SHA1").toLowerCase(),
  };
}

// RFC 6238, appendix B: SHA1, the ASCII secret "12345678901234567890", T = 59 s
// gives 94287082 in eight digits.
const vector: Totp = {
  secret: Buffer.from("12345678901234567890"),
  base32: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
  digits: 8,
  period: 30,
  algorithm: "sha1",
};
if (codeAt(vector, 59) !== "94287082" || !base32Decode(vector.base32).equals(vector.secret)) {
  throw new Error("mismatch: the TOTP code of RFC 6238's test vector is wrong: src/totp.ts is broken");
}
