// What every step of the flows uses: the typed client's paths, the check that
// ends the run on the first mismatch, and the shape of a problem body.
import type { components } from "./schema";

export type Problem = components["schemas"]["Problem"];

export function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set`);
  }
  return value;
}

export function check(condition: unknown, what: string): asserts condition {
  if (!condition) {
    throw new Error(`mismatch: ${what}`);
  }
}

export function isProblem(value: unknown): value is Problem {
  const p = value as Problem | undefined;
  return typeof p?.code === "string" && typeof p?.status === "number" && typeof p?.request_id === "string";
}

export const bearer = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

/** A fresh address that no other run uses. */
export const uniqueEmail = (prefix: string) =>
  `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
