// A thin typed wrapper around openapi-fetch. Every type here comes from src/schema.d.ts, which
// `npm run generate` regenerates from ../../openapi/openapi.yaml; nothing is written by hand.
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths };
export type Schemas = components["schemas"];

/** RFC 9457 problem body, exactly as the spec documents it. */
export type Problem = Schemas["Problem"];
export type ProblemCode = Schemas["ProblemCode"];
export type Product = Schemas["ProductDto"];
export type ProductPage = Schemas["ProductPage"];
export type SortOrder = Schemas["SortOrder"];
export type DeliveryEstimate = Schemas["DeliveryEstimate"];

export type FarmLokalClient = Client<paths>;

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** The service base URL from `FARMLOKAL_URL` (e.g. `http://127.0.0.1:8080`), without a trailing slash. */
export function baseUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const url = env["FARMLOKAL_URL"];
  if (url === undefined || url.trim() === "") {
    throw new Error("FARMLOKAL_URL is not set (e.g. FARMLOKAL_URL=http://127.0.0.1:8080)");
  }
  return url.trim().replace(/\/+$/, "");
}

/** A typed client for every operation of the spec. The base URL defaults to `FARMLOKAL_URL`. */
export function createFarmLokalClient(options: ClientOptions = {}): FarmLokalClient {
  return createClient<paths>({ ...options, baseUrl: options.baseUrl ?? baseUrlFromEnv() });
}

/** True when the response is `application/problem+json` (parameters such as `charset` are ignored). */
export function isProblemResponse(response: Response): boolean {
  const contentType = response.headers.get("content-type") ?? "";
  return contentType.split(";")[0]?.trim().toLowerCase() === PROBLEM_CONTENT_TYPE;
}

/** Structural check of a parsed body against the required fields of `Problem`. */
export function isProblemBody(value: unknown): value is Problem {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v["type"] === "string" &&
    typeof v["title"] === "string" &&
    typeof v["status"] === "number" &&
    typeof v["detail"] === "string" &&
    typeof v["code"] === "string"
  );
}

/**
 * Narrows an openapi-fetch `error` to a `Problem`: the response must be `application/problem+json`, the body
 * must have the Problem fields, and its `status` must equal the HTTP status. Anything else gives `undefined`.
 */
export function asProblem(error: unknown, response: Response): Problem | undefined {
  if (!isProblemResponse(response) || !isProblemBody(error)) return undefined;
  return error.status === response.status ? error : undefined;
}
