// The rest of the account life cycle through the generated client, run by
// flow.ts after its own steps, as clients/python/account_flow.py does for the
// Python client:
//
// - a TOTP second factor: enrol, confirm with a code src/totp.ts computes from
//   the otpauth:// URI (RFC 6238 with Node's crypto, not the service's code),
//   then a login answers 401 mfa_required with an mfa_token, and completeMfa
//   with the next step's code gives tokens whose `amr` says pwd and otp; a
//   replayed code is refused and a recovery code works once;
// - an invitation: the admin (PORTCULLIS_ADMIN_EMAIL / _PASSWORD, as
//   scripts/external-checks.sh starts the service) creates an account with
//   `invite: true`; the invited person reads the mail, sets a password through
//   confirmPasswordReset, and signs in with the address already verified.
import type { Client } from "openapi-fetch";
import { bearer, check, isProblem, required, uniqueEmail } from "./checks";
import { waitForToken } from "./mail";
import type { paths } from "./schema";
import { codeAt, parseOtpauthUri } from "./totp";

type Portcullis = Client<paths>;

/** The claims of a JWT, unverified: the flow only reads them. */
function claims(token: string): Record<string, unknown> {
  const part = token.split(".")[1] ?? "";
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

/** The mfa_token a login with the right password answers with. */
async function stepUp(client: Portcullis, email: string, password: string): Promise<string> {
  const answer = await client.POST("/v1/auth/login", { body: { email, password } });
  check(answer.response.status === 401, `login with TOTP on: status ${answer.response.status}, want 401`);
  check(
    isProblem(answer.error) && answer.error.code === "mfa_required",
    `login with TOTP on: ${JSON.stringify(answer.error)}`,
  );
  const token = answer.error.mfa_token;
  check(typeof token === "string" && token.length > 0, "mfa_required carries an mfa_token");
  return token;
}

export async function secondFactor(client: Portcullis): Promise<void> {
  const email = uniqueEmail("ts-totp");
  const password = "Quartz-lantern-harbor-3917";
  const created = await client.POST("/v1/auth/register", { body: { email, password } });
  check(created.response.status === 201, `register for TOTP: status ${created.response.status}, want 201`);
  const pair = await client.POST("/v1/auth/login", { body: { email, password } });
  check(pair.data, `login before TOTP: status ${pair.response.status}, want 200`);
  const user = bearer(pair.data.access_token);

  const enrolled = await client.POST("/v1/users/me/mfa/totp", user);
  check(enrolled.response.status === 201 && enrolled.data, `enrol: status ${enrolled.response.status}, want 201`);
  const totp = parseOtpauthUri(enrolled.data.otpauth_uri);
  check(totp.base32 === enrolled.data.secret, "the otpauth:// URI carries the same secret as the enrolment");
  check(
    totp.algorithm === "sha1" && totp.digits === 6 && totp.period === 30,
    `the otpauth:// URI says ${totp.algorithm}, ${totp.digits} digits, ${totp.period} s; want SHA1, 6, 30`,
  );
  const now = () => Date.now() / 1000;
  const confirmed = await client.POST("/v1/users/me/mfa/totp/confirm", {
    ...user,
    body: { code: codeAt(totp, now()) },
  });
  check(confirmed.response.status === 200 && confirmed.data, `confirm: status ${confirmed.response.status}, want 200`);
  const recoveryCodes = confirmed.data.recovery_codes;
  check(recoveryCodes.length === 10, `${recoveryCodes.length} recovery codes, want 10`);
  console.log("totp: enrolled, confirmed with an RFC 6238 code, 10 recovery codes");

  // The confirming code's step is spent: the next step's code signs in.
  const code = codeAt(totp, now() + totp.period);
  const done = await client.POST("/v1/auth/mfa", {
    body: { mfa_token: await stepUp(client, email, password), code },
  });
  check(done.response.status === 200 && done.data, `mfa with a TOTP code: status ${done.response.status}, want 200`);
  const amr = claims(done.data.access_token).amr;
  check(
    JSON.stringify(amr) === JSON.stringify(["pwd", "otp"]),
    `the access token's amr is ${JSON.stringify(amr)}, want pwd and otp`,
  );
  console.log("totp: login answered 401 mfa_required; the code completes it, amr pwd+otp");

  const replayed = await client.POST("/v1/auth/mfa", {
    body: { mfa_token: await stepUp(client, email, password), code },
  });
  check(replayed.response.status === 401, `a replayed code: status ${replayed.response.status}, want 401`);
  check(
    isProblem(replayed.error) && replayed.error.code === "invalid_mfa_code",
    `a replayed code: ${JSON.stringify(replayed.error)}`,
  );
  console.log("totp: the same code again is refused (401 invalid_mfa_code)");

  const recovery = recoveryCodes[0];
  const rescued = await client.POST("/v1/auth/mfa", {
    body: { mfa_token: await stepUp(client, email, password), recovery_code: recovery },
  });
  check(rescued.response.status === 200, `a recovery code: status ${rescued.response.status}, want 200`);
  const spent = await client.POST("/v1/auth/mfa", {
    body: { mfa_token: await stepUp(client, email, password), recovery_code: recovery },
  });
  check(spent.response.status === 401, `the same recovery code again: status ${spent.response.status}, want 401`);
  console.log("totp: a recovery code works once");
}

export async function invitation(client: Portcullis, maildir: string, publicUrl: string): Promise<void> {
  const adminEmail = required("PORTCULLIS_ADMIN_EMAIL");
  const adminPassword = required("PORTCULLIS_ADMIN_PASSWORD");
  const pair = await client.POST("/v1/auth/login", { body: { email: adminEmail, password: adminPassword } });
  check(pair.data, `admin login: status ${pair.response.status}, want 200`);
  const admin = bearer(pair.data.access_token);

  const email = uniqueEmail("ts-invited");
  const invited = await client.POST("/v1/admin/users", { ...admin, body: { email, invite: true } });
  check(invited.response.status === 201 && invited.data, `invite: status ${invited.response.status}, want 201`);
  check(invited.data.email === email && invited.data.role === "user", `invite: ${JSON.stringify(invited.data)}`);
  check(invited.data.email_verified === false, "an invited address is not verified before the link is used");
  const both = await client.POST("/v1/admin/users", {
    ...admin,
    body: { email: `x-${email}`, invite: true, password: "Quartz-lantern-harbor-3917" },
  });
  check(both.response.status === 422, `a password and an invitation: status ${both.response.status}, want 422`);
  check(
    isProblem(both.error) && both.error.code === "password_or_invite",
    `a password and an invitation: ${JSON.stringify(both.error)}`,
  );
  console.log("invite: 201, and 422 password_or_invite for a password with invite");

  const subject = "You are invited: choose your password";
  const token = await waitForToken(maildir, email, subject, `${publicUrl}/reset-password`);
  const password = "Meadow-copper-osprey-5402";
  const chosen = await client.POST("/v1/auth/password-reset/confirm", { body: { token, new_password: password } });
  check(chosen.response.status === 204, `invitation link: status ${chosen.response.status}, want 204`);
  const signedIn = await client.POST("/v1/auth/login", { body: { email, password } });
  check(signedIn.data, `the invited user signs in: status ${signedIn.response.status}, want 200`);
  const me = await client.GET("/v1/users/me", bearer(signedIn.data.access_token));
  check(me.data?.email_verified === true, `invited me: status ${me.response.status}, ${JSON.stringify(me.data)}`);
  console.log("invite: the mailed link sets the password; the invited user signs in, address verified");
}
