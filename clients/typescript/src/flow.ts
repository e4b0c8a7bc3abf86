// Drives Portcullis through a client generated from the committed OpenAPI
// document: register -> verify the address with the token of the mailed link
// (the user shows `email_verified`) -> login -> me -> a second login -> list
// sessions -> end the second one (its refresh answers 401; ending it again
// answers 404) -> refresh ->
// logout -> me answers 401; then a password reset: an unknown address gets the
// same 202, the mailed link's token with a new password ends the old session,
// the old password is refused and the new one works, and the link works once;
// then a TOTP second factor and an admin's invitation (src/account.ts).
// Exits non-zero on the first mismatch.
//
// The service must mail through SMTP into a maildir (CHECKS_MAILDIR, read
// by src/mail.ts) with CHECKS_PUBLIC_URL the base of the links (its PORTCULLIS_PUBLIC_URL),
// and have the admin PORTCULLIS_ADMIN_EMAIL / PORTCULLIS_ADMIN_PASSWORD, as
// scripts/external-checks.sh sets it up:
//
//   npm run generate && PORTCULLIS_URL=http://127.0.0.1:8080 \
//     CHECKS_MAILDIR=../../target/external-mail CHECKS_PUBLIC_URL=https://app.example.com \
//     PORTCULLIS_ADMIN_EMAIL=admin@example.com PORTCULLIS_ADMIN_PASSWORD=... npm run flow
import createClient from "openapi-fetch";
import { invitation, secondFactor } from "./account";
import { bearer, check, isProblem, required, uniqueEmail } from "./checks";
import { waitForToken } from "./mail";
import type { paths } from "./schema";

const baseUrl = process.env.PORTCULLIS_URL ?? "http://127.0.0.1:8080";
const client = createClient<paths>({ baseUrl });
const maildir = required("CHECKS_MAILDIR");
const publicUrl = required("CHECKS_PUBLIC_URL").replace(/\/+$/, "");

async function main(): Promise<void> {
  const email = uniqueEmail("ts-client");
  const password = "Lantern-quarry-violet-7731";

  const registered = await client.POST("/v1/auth/register", { body: { email, password } });
  check(registered.response.status === 201, `register: status ${registered.response.status}, want 201`);
  check(registered.data?.email === email, `register: email ${registered.data?.email}`);
  check(registered.data.role === "user" && registered.data.status === "active", "register: role/status");
  check(registered.data.email_verified === false, "register: the address is not verified yet");
  console.log(`register: 201 ${registered.data.id}`);

  const token = await waitForToken(maildir, email, "Confirm your e-mail address", `${publicUrl}/verify-email`);
  const verified = await client.POST("/v1/auth/verify-email", { body: { token } });
  check(verified.response.status === 204, `verify-email: status ${verified.response.status}, want 204`);
  console.log("verify-email: 204 with the token of the mailed link");

  const login = await client.POST("/v1/auth/login", { body: { email, password } });
  check(login.response.status === 200 && login.data, `login: status ${login.response.status}, want 200`);
  check(login.data.token_type === "Bearer", `login: token_type ${login.data.token_type}`);
  check(login.data.expires_in > 0, "login: expires_in");
  console.log("login: 200");

  const me = await client.GET("/v1/users/me", bearer(login.data.access_token));
  check(me.response.status === 200 && me.data, `me: status ${me.response.status}, want 200`);
  check(me.data.id === registered.data.id, `me: id ${me.data.id}, want ${registered.data.id}`);
  check(me.data.email_verified === true, "me: email_verified is not true after verify-email");
  console.log("me: 200, email_verified");

  const other = await client.POST("/v1/auth/login", { body: { email, password } });
  check(other.response.status === 200 && other.data, `second login: status ${other.response.status}, want 200`);
  const listed = await client.GET("/v1/users/me/sessions", bearer(login.data.access_token));
  check(listed.response.status === 200 && listed.data, `sessions: status ${listed.response.status}, want 200`);
  check(listed.data.items.length === 2, `sessions: ${listed.data.items.length} items, want 2`);
  const current = listed.data.items.filter((session) => session.current);
  check(current.length === 1, "sessions: exactly one is current");
  const ended = listed.data.items.find((session) => !session.current);
  check(ended, "sessions: the other session is listed");
  console.log(`sessions: 200, ${listed.data.items.length} sessions, current ${current[0]?.id}`);

  const gone = await client.DELETE("/v1/users/me/sessions/{id}", {
    ...bearer(login.data.access_token),
    params: { path: { id: ended.id } },
  });
  check(gone.response.status === 204, `end session: status ${gone.response.status}, want 204`);
  console.log("end session: 204");
  const stale = await client.POST("/v1/auth/refresh", { body: { refresh_token: other.data.refresh_token } });
  check(stale.response.status === 401, `refresh of the ended session: status ${stale.response.status}, want 401`);
  check(isProblem(stale.error) && stale.error.code === "token_revoked", "refresh of the ended session: code");
  console.log("refresh of the ended session: 401 token_revoked");
  const again = await client.DELETE("/v1/users/me/sessions/{id}", {
    ...bearer(login.data.access_token),
    params: { path: { id: ended.id } },
  });
  check(again.response.status === 404, `end the ended session again: status ${again.response.status}, want 404`);
  check(isProblem(again.error) && again.error.code === "not_found", "end the ended session again: code");
  console.log("end the ended session again: 404 not_found");

  const refreshed = await client.POST("/v1/auth/refresh", { body: { refresh_token: login.data.refresh_token } });
  check(refreshed.response.status === 200 && refreshed.data, `refresh: status ${refreshed.response.status}, want 200`);
  check(refreshed.data.refresh_token !== login.data.refresh_token, "refresh: the refresh token was not rotated");
  console.log("refresh: 200");

  const access = refreshed.data.access_token;
  const logout = await client.POST("/v1/auth/logout", {
    ...bearer(access),
    body: { refresh_token: refreshed.data.refresh_token },
  });
  check(logout.response.status === 204, `logout: status ${logout.response.status}, want 204`);
  console.log("logout: 204");

  const after = await client.GET("/v1/users/me", bearer(access));
  check(after.response.status === 401, `me after logout: status ${after.response.status}, want 401`);
  const contentType = after.response.headers.get("content-type") ?? "";
  check(contentType.startsWith("application/problem+json"), `me after logout: content-type ${contentType}`);
  check(isProblem(after.error), "me after logout: the body is not a Problem");
  check(after.error.status === 401, `me after logout: problem status ${after.error.status}`);
  console.log(`me after logout: 401 ${after.error.code}`);

  await resetPassword(email, password);
  await secondFactor(client);
  await invitation(client, maildir, publicUrl);
  console.log("typescript client: every step answered as documented");
}

// A reset through the mailed link ends the session that was open, changes the
// password, and works once; an unknown address is answered alike.
async function resetPassword(email: string, password: string): Promise<void> {
  const before = await client.POST("/v1/auth/login", { body: { email, password } });
  check(before.data, `login before the reset: status ${before.response.status}, want 200`);

  const asked = await client.POST("/v1/auth/password-reset", { body: { email } });
  check(asked.response.status === 202 && asked.data, `password-reset: status ${asked.response.status}, want 202`);
  const unknown = uniqueEmail("nobody");
  const stranger = await client.POST("/v1/auth/password-reset", { body: { email: unknown } });
  check(
    stranger.response.status === asked.response.status && JSON.stringify(stranger.data) === JSON.stringify(asked.data),
    `password-reset of an unknown address: ${stranger.response.status} ${JSON.stringify(stranger.data)}, ` +
      `the known one got ${asked.response.status} ${JSON.stringify(asked.data)}`,
  );
  console.log("password-reset: 202, the same answer for an unknown address");

  const token = await waitForToken(maildir, email, "Reset your password", `${publicUrl}/reset-password`);
  const newPassword = "Osprey-granite-meadow-2648";
  const confirmed = await client.POST("/v1/auth/password-reset/confirm", {
    body: { token, new_password: newPassword },
  });
  check(confirmed.response.status === 204, `password-reset/confirm: status ${confirmed.response.status}, want 204`);
  console.log("password-reset/confirm: 204 with the token of the mailed link");

  const oldRefresh = await client.POST("/v1/auth/refresh", { body: { refresh_token: before.data.refresh_token } });
  check(oldRefresh.response.status === 401, `refresh after the reset: status ${oldRefresh.response.status}, want 401`);
  const oldMe = await client.GET("/v1/users/me", bearer(before.data.access_token));
  check(oldMe.response.status === 401, `me with the old access token: status ${oldMe.response.status}, want 401`);
  const old = await client.POST("/v1/auth/login", { body: { email, password } });
  check(old.response.status === 401, `login with the old password: status ${old.response.status}, want 401`);
  check(isProblem(old.error) && old.error.code === "invalid_credentials", "login with the old password: code");
  console.log("after the reset: the old refresh token, access token and password are refused (401)");
  const renewed = await client.POST("/v1/auth/login", { body: { email, password: newPassword } });
  check(renewed.response.status === 200 && renewed.data, `login, new password: status ${renewed.response.status}`);
  console.log("login with the new password: 200");

  const again = await client.POST("/v1/auth/password-reset/confirm", {
    body: { token, new_password: "Another-copper-lantern-7306" },
  });
  check(again.response.status === 400, `the same reset token again: status ${again.response.status}, want 400`);
  check(isProblem(again.error) && again.error.code === "invalid_token", "the same reset token again: code");
  console.log("the same reset token again: 400 invalid_token");
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  console.error("typescript client: FAILED");
  process.exit(1);
});
