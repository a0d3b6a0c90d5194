/**
 * State undici keeps under symbols it does not export: the negotiated HTTP version of a
 * connection, an HTTP/2 client's session, the stream limit its upstream advertised. Found by the
 * symbol's description, here only, so an undici upgrade that renames one has one place to check;
 * callers treat "not found" as "unknown" and keep working without it.
 */

/** The symbol-keyed property of `obj` with this description, if any. */
export function internalSymbol(obj: object, description: string): symbol | undefined {
  return Object.getOwnPropertySymbols(obj).find((sym) => sym.description === description);
}

/** The value under that symbol, if any. */
export function internalField(obj: object, description: string): unknown {
  const key = internalSymbol(obj, description);
  return key === undefined ? undefined : (obj as Record<symbol, unknown>)[key];
}
