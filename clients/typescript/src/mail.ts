// Reads the links Portcullis mails out of the maildir the external checks'
// SMTP server (aiosmtpd's Mailbox handler) writes: one file per message in
// `$CHECKS_MAILDIR/new`.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const WAIT_MS = 30_000;

/** A header of a raw message (unfolded), or undefined. */
function header(raw: string, name: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/, 1)[0].replace(/\r?\n[ \t]+/g, " ");
  const line = head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

/** The delivered messages to `to` whose subject is `subject`, raw. */
function messagesTo(maildir: string, to: string, subject: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(maildir, "new"));
  } catch {
    return []; // nothing delivered yet
  }
  return names
    .map((name) => readFileSync(join(maildir, "new", name), "utf8"))
    .filter((raw) => header(raw, "To") === to && header(raw, "Subject") === subject);
}

/** The token of the link `link` (for instance https://app.example.com/reset-password) in a raw message. */
export function linkToken(raw: string, link: string): string {
  // Undo quoted-printable soft line breaks and `=`, should a part be encoded so.
  const body = raw.replace(/=\r?\n/g, "").replace(/=3D/g, "=");
  const escaped = link.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  const tokens = [...body.matchAll(new RegExp(`${escaped}#token=([A-Za-z0-9_-]+)`, "g"))].map((m) => m[1]);
  if (tokens.length === 0) {
    throw new Error(`mismatch: no link ${link}#token= in the message: ${raw}`);
  }
  // The plain-text and the HTML part carry the same link.
  if (new Set(tokens).size !== 1 || tokens[0].length !== 43) {
    throw new Error(`mismatch: want one 43-character token, found ${tokens.join(", ")}`);
  }
  return tokens[0];
}

/**
 * Waits (delivery happens after the answer) for the one message to `to` with
 * `subject`, and returns the token of its link.
 */
export async function waitForToken(maildir: string, to: string, subject: string, link: string): Promise<string> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const found = messagesTo(maildir, to, subject);
    if (found.length > 1) {
      throw new Error(`mismatch: ${found.length} messages "${subject}" to ${to}, want one`);
    }
    if (found.length === 1) {
      return linkToken(found[0], link);
    }
    if (Date.now() > deadline) {
      throw new Error(`mismatch: no message "${subject}" to ${to} arrived in ${maildir}/new`);
    }
    await sleep(100);
  }
}
