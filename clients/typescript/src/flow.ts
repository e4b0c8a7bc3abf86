// Drives Portcullis through a client generated from the committed OpenAPI
// document: register -> login -> me -> a second login -> list sessions -> end
// the second one (its refresh answers 401) -> refresh -> logout -> me answers 401.
// Exits non-zero on the first mismatch.
//
//   npm run generate && PORTCULLIS_URL=http://127.0.0.1:8080 npm run flow
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

type Problem = components["schemas"]["Problem"];

const baseUrl = process.env.PORTCULLIS_URL ?? "http://127.0.0.1:8080";
const client = createClient<paths>({ baseUrl });

function check(condition: unknown, what: string): asserts condition {
  if (!condition) {
    throw new Error(`mismatch: ${what}`);
  }
}

function isProblem(value: unknown): value is Problem {
  const p = value as Problem | undefined;
  return typeof p?.code === "string" && typeof p?.status === "number" && typeof p?.request_id === "string";
}

const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

async function main(): Promise<void> {
  const email = `ts-client-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
  const password = "Lantern-quarry-violet-7731";

  const registered = await client.POST("/v1/auth/register", { body: { email, password } });
  check(registered.response.status === 201, `register: status ${registered.response.status}, want 201`);
  check(registered.data?.email === email, `register: email ${registered.data?.email}`);
  check(registered.data.role === "user" && registered.data.status === "active", "register: role/status");
  console.log(`register: 201 ${registered.data.id}`);

  const login = await client.POST("/v1/auth/login", { body: { email, password } });
  check(login.response.status === 200 && login.data, `login: status ${login.response.status}, want 200`);
  check(login.data.token_type === "Bearer", `login: token_type ${login.data.token_type}`);
  check(login.data.expires_in > 0, "login: expires_in");
  console.log("login: 200");

  const me = await client.GET("/v1/users/me", bearer(login.data.access_token));
  check(me.response.status === 200 && me.data, `me: status ${me.response.status}, want 200`);
  check(me.data.id === registered.data.id, `me: id ${me.data.id}, want ${registered.data.id}`);
  console.log("me: 200");

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

  console.log("typescript client: every step answered as documented");
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  console.error("typescript client: FAILED");
  process.exit(1);
});
