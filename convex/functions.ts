/**
 * The function builders every module of this deployment uses, in place of
 * the ones in `_generated/server`. They differ in one thing: a `PoolError`
 * thrown by the domain leaves the function as a `ConvexError` carrying the
 * same `{ code, message }`, which is what clients and calling actions see
 * (a plain `Error` reaches a client only as "Server Error").
 *
 * ESLint forbids importing the raw builders anywhere else.
 */
import { ConvexError } from "convex/values";

import {
  action as rawAction,
  httpAction as rawHttpAction,
  internalAction as rawInternalAction,
  internalMutation as rawInternalMutation,
  internalQuery as rawInternalQuery,
  mutation as rawMutation,
  query as rawQuery,
} from "./_generated/server";
import { PoolError } from "./domain/errors";

function asConvexError(error: unknown): unknown {
  return error instanceof PoolError ? new ConvexError(error.data) : error;
}

type Handler = (...args: never[]) => unknown;

function withCodedErrors<H extends Handler>(handler: H): H {
  return (async (...args: Parameters<H>) => {
    try {
      return await handler(...args);
    } catch (error) {
      throw asConvexError(error);
    }
  }) as H;
}

/** A definition is a bare handler or `{ args, returns, handler }`. */
function wrapDefinition<D>(definition: D): D {
  if (typeof definition === "function") return withCodedErrors(definition as Handler) as D;
  const withHandler = definition as { handler: Handler };
  return { ...withHandler, handler: withCodedErrors(withHandler.handler) } as D;
}

function wrapBuilder<B extends (definition: never) => unknown>(builder: B): B {
  return ((definition: Parameters<B>[0]) => builder(wrapDefinition(definition))) as B;
}

export const query = wrapBuilder(rawQuery);
export const internalQuery = wrapBuilder(rawInternalQuery);
export const mutation = wrapBuilder(rawMutation);
export const internalMutation = wrapBuilder(rawInternalMutation);
export const action = wrapBuilder(rawAction);
export const internalAction = wrapBuilder(rawInternalAction);
export const httpAction = wrapBuilder(rawHttpAction);
