/** The few calls of fengari (a Lua 5.3 VM in JavaScript, no types of its own) the tests use. */
declare module 'fengari' {
  type LuaState = { readonly __lua_state: unique symbol };
  type LuaString = Uint8Array;
  const fengari: {
    to_luastring(s: string): LuaString;
    to_jsstring(s: LuaString): string;
    lua: {
      readonly LUA_OK: number;
      lua_pcall(L: LuaState, nargs: number, nresults: number, msgh: number): number;
      lua_tojsstring(L: LuaState, idx: number): string;
      lua_settop(L: LuaState, idx: number): void;
    };
    lauxlib: {
      luaL_newstate(): LuaState;
      luaL_loadstring(L: LuaState, s: LuaString): number;
    };
    lualib: { luaL_openlibs(L: LuaState): void };
  };
  export default fengari;
}
