/**
 * Deprecated Hiro API routes, as the API treats them. The API marks each
 * deprecated route in its OpenAPI description; while they are enabled every
 * answer of such a route carries `Warning: 299 - "Deprecated: <message>"`, and
 * once they are switched off every request gets 410 Gone,
 * `{ "error": "Gone", "message": "This endpoint has been disabled. <message>" }`,
 * before anything else runs (README, "Chain integration").
 *
 * Only routes this server serves are listed; each is named by the API's
 * operation id, which is also how a test keeps one enabled while the rest
 * are gone.
 */
import { z } from "zod";

/** The API's default deprecation message (no deprecated route sets its own). */
export const DEPRECATION_MESSAGE = "See https://docs.hiro.so/stacks/api for more information";

export const DEPRECATED_ROUTES = [
  { operationId: "get_contract_events_by_id", pattern: /^\/extended\/v1\/contract\/[^/]+\/events\/?$/ },
  // `/extended/v1/tx/multiple` is not deprecated: it is a route of its own, not a transaction id.
  { operationId: "get_transaction_by_id", pattern: /^\/extended\/v1\/tx\/(?!multiple\/?$)[^/]+\/?$/ },
  { operationId: "get_account_nonces", pattern: /^\/extended\/v1\/address\/[^/]+\/nonces\/?$/ },
  { operationId: "get_block_by_height", pattern: /^\/extended\/v1\/block\/by_height\/[^/]+\/?$/ },
  { operationId: "get_block_by_hash", pattern: /^\/extended\/v1\/block\/(?!by_height\/)[^/]+\/?$/ },
] as const;

export type DeprecatedOperation = (typeof DEPRECATED_ROUTES)[number]["operationId"];
const OPERATION_IDS = DEPRECATED_ROUTES.map((route) => route.operationId) as [DeprecatedOperation, ...DeprecatedOperation[]];

/** `enabled` (the API's default): served, with the Warning header. `gone`: 410 for each, but those in `except`. */
export const deprecatedRoutesRequest = z.object({
  mode: z.enum(["enabled", "gone"]),
  except: z.array(z.enum(OPERATION_IDS)).default([]),
});
export type DeprecatedRoutesSetting = z.output<typeof deprecatedRoutesRequest>;

export const GONE_BODY = { error: "Gone", message: `This endpoint has been disabled. ${DEPRECATION_MESSAGE}` } as const;
export const WARNING_HEADER = `299 - "Deprecated: ${DEPRECATION_MESSAGE}"`;

export class DeprecatedRoutes {
  private setting: DeprecatedRoutesSetting;

  constructor(mode: DeprecatedRoutesSetting["mode"] = "enabled") {
    this.setting = { mode, except: [] };
  }

  set(setting: DeprecatedRoutesSetting): void {
    this.setting = { mode: setting.mode, except: [...setting.except] };
  }

  get current(): DeprecatedRoutesSetting {
    return { mode: this.setting.mode, except: [...this.setting.except] };
  }

  /** How a GET of `pathname`, which a route serves, is treated: null when it is not deprecated. */
  judge(method: string, pathname: string): { gone: boolean } | null {
    if (method !== "GET") return null;
    const route = DEPRECATED_ROUTES.find((r) => r.pattern.test(pathname));
    if (!route) return null;
    return { gone: this.setting.mode === "gone" && !this.setting.except.includes(route.operationId) };
  }
}
