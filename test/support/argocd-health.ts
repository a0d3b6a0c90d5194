/**
 * Runs an Argo CD resource health script the way Argo CD does: the object as the global `obj`
 * (JSON turned into Lua tables), the script's returned table read for `status` and `message`.
 * fengari is a Lua 5.3 VM in JavaScript, close enough to Argo CD's gopher-lua (5.1) for scripts
 * that stay in the common subset (no goto, no integer division, no utf8 library).
 */
import fengari from 'fengari';

const { lua, lauxlib, lualib } = fengari;
const toLuaString = (s: string): Uint8Array => fengari.to_luastring(s);

export interface ArgoHealth {
  readonly status: string;
  readonly message: string;
}

/** A Lua string literal: quotes, backslashes and every control character as a decimal escape. */
function luaString(s: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${s.replace(/[\\"\x00-\x1f]/g, (c) => `\\${c.charCodeAt(0).toString().padStart(3, '0')}`)}"`;
}

/** A Lua expression for a JSON value; null becomes nil, as in Argo CD. */
export function luaValue(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return luaString(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `{${v.map(luaValue).join(', ')}}`;
  const entries = Object.entries(v as Record<string, unknown>).map(([k, x]) => `[${luaString(k)}] = ${luaValue(x)}`);
  return `{${entries.join(', ')}}`;
}

export function runHealthScript(script: string, obj: unknown): ArgoHealth {
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  const program = `obj = ${luaValue(obj)}\nlocal function check()\n${script}\nend\nlocal hs = check()\nreturn tostring(hs.status), tostring(hs.message)`;
  if (lauxlib.luaL_loadstring(L, toLuaString(program)) !== lua.LUA_OK) throw new Error(`Lua: ${lua.lua_tojsstring(L, -1)}`);
  if (lua.lua_pcall(L, 0, 2, 0) !== lua.LUA_OK) throw new Error(`Lua: ${lua.lua_tojsstring(L, -1)}`);
  return { status: lua.lua_tojsstring(L, -2), message: lua.lua_tojsstring(L, -1) };
}
