/** The message of anything thrown: simnet's wasm throws plain strings as well as Errors. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
