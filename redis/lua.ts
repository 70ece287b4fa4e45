/**
 * The Lua virtual machine scripts run in: Lua 5.4 compiled to WebAssembly (the wasmoon package),
 * driven through its C API. This module knows Lua, not Redis: it moves binary-safe strings
 * ("latin1", one char per byte) and numbers across, registers host functions and runs chunks
 * as coroutines that a count hook may pause.
 */
import { LuaFactory } from "wasmoon";
// Embedded by `bun build --compile`; a plain path when run from source.
import wasmFile from "wasmoon/dist/glue.wasm" with { type: "file" };

// deno-lint-ignore no-explicit-any
type Api = any;

const lw: Api = await new LuaFactory(wasmFile).getLuaModule();
const m: Api = lw.module;

export const LUA_OK = 0;
export const LUA_YIELD = 1;
export const LUA_ERRSYNTAX = 3;

/** Lua's type tags. */
export const T = { NIL: 0, BOOLEAN: 1, NUMBER: 3, STRING: 4, TABLE: 5, FUNCTION: 6 } as const;

const REGISTRY = -1001000;
const RIDX_GLOBALS = 2n;
const MASK_COUNT = 8;

/** A Lua state (one per node, as in Redis) or one of its threads: a pointer into wasm memory. */
export type State = number;

let scratch = 0;
let scratchSize = 0;
/** Scratch memory of at least `n` bytes (grown as needed; Lua copies what it is given). */
function buffer(n: number): number {
  if (n > scratchSize) {
    const size = Math.max(n, 2 * scratchSize, 256);
    const p = m._malloc(size);
    if (p === 0) throw new Error("out of memory (Lua heap)");
    if (scratch !== 0) m._free(scratch);
    scratch = p;
    scratchSize = size;
  }
  return scratch;
}
const lenSlot = m._malloc(8);

export function newState(): State {
  const L = lw.luaL_newstate();
  lw.luaL_openlibs(L);
  return L;
}

export function top(L: State): number {
  return m._lua_gettop(L);
}

export function setTop(L: State, n: number): void {
  m._lua_settop(L, n);
}

export function pop(L: State, n = 1): void {
  m._lua_settop(L, -n - 1);
}

export function type(L: State, i: number): number {
  return m._lua_type(L, i);
}

/** Pushes a binary-safe string (one char per byte). */
export function pushString(L: State, s: string): void {
  const p = buffer(s.length);
  const heap: Uint8Array = m.HEAPU8;
  for (let i = 0; i < s.length; i++) heap[p + i] = s.charCodeAt(i);
  m._lua_pushlstring(L, p, s.length);
}

/** The string (or number, converted by Lua) at `i`, one char per byte; null for other types. */
export function toString(L: State, i: number): string | null {
  const p = m._lua_tolstring(L, i, lenSlot);
  if (p === 0) return null;
  const n = m.HEAPU32[lenSlot >> 2];
  return Buffer.from(m.HEAPU8.buffer, p, n).toString("latin1");
}

export function pushInteger(L: State, n: number | bigint): void {
  m._lua_pushinteger(L, BigInt(n));
}

export function pushNumber(L: State, n: number): void {
  m._lua_pushnumber(L, n);
}

export function pushBoolean(L: State, b: boolean): void {
  m._lua_pushboolean(L, b ? 1 : 0);
}

export function pushNil(L: State): void {
  m._lua_pushnil(L);
}

/** Pushes a light userdata holding NULL (cjson.null). */
export function pushLightNull(L: State): void {
  m._lua_pushlightuserdata(L, 0);
}

export function isInteger(L: State, i: number): boolean {
  return m._lua_isinteger(L, i) !== 0;
}

/** The integer at `i` (a number if it fits exactly, else a bigint). */
export function toInteger(L: State, i: number): number | bigint {
  const n: bigint = m._lua_tointegerx(L, i, 0);
  return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
}

export function toNumber(L: State, i: number): number {
  return m._lua_tonumberx(L, i, 0);
}

export function toBoolean(L: State, i: number): boolean {
  return m._lua_toboolean(L, i) !== 0;
}

export function newTable(L: State, narr = 0, nrec = 0): void {
  m._lua_createtable(L, narr, nrec);
}

/** t[n] = top of stack (popped), for the table at `i`. */
export function rawSetI(L: State, i: number, n: number): void {
  m._lua_rawseti(L, i, BigInt(n));
}

/** Pushes t[n] of the table at `i`; returns its type. */
export function rawGetI(L: State, i: number, n: number): number {
  return m._lua_rawgeti(L, i, BigInt(n));
}

/** t[name] = top of stack (popped), for the table at `i`. */
export function setField(L: State, i: number, name: string): void {
  lw.lua_setfield(L, i, name);
}

/** Pushes t[name] without metamethods; returns its type. */
export function rawGetField(L: State, i: number, name: string): number {
  const t = m._lua_absindex(L, i);
  pushString(L, name);
  return m._lua_rawget(L, t);
}

/** t[k] = v for the table at `i`, key and value on top (both popped), without metamethods. */
export function rawSet(L: State, i: number): void {
  m._lua_rawset(L, i);
}

/** Makes room for `n` more values on the stack. */
export function checkStack(L: State, n: number): void {
  m._lua_checkstack(L, n);
}

/** The table's border (#t without metamethods). */
export function rawLen(L: State, i: number): number {
  return Number(m._lua_rawlen(L, i));
}

/** Pushes the next key and value after the key on top (popped); false at the end. */
export function next(L: State, i: number): boolean {
  return m._lua_next(L, i) !== 0;
}

/** Pushes the globals table. */
export function pushGlobals(L: State): void {
  m._lua_rawgeti(L, REGISTRY, RIDX_GLOBALS);
}

/** Sets a global without metamethods (the globals table may be read-only for scripts). */
export function rawSetGlobal(L: State, name: string): void {
  pushGlobals(L);
  pushString(L, name);
  m._lua_rotate(L, -3, -1); // value, globals, name -> globals, name, value
  m._lua_rawset(L, -3);
  pop(L);
}

export function getGlobal(L: State, name: string): number {
  return lw.lua_getglobal(L, name);
}

/**
 * Registers `fn` as a global C function. It sees the calling thread and returns how many results
 * it pushed; it must not throw (a host error becomes a Lua error value it returns instead).
 */
export function setFunction(L: State, name: string, fn: (L: State) => number): number {
  const ptr = m.addFunction(fn, "ii");
  m._lua_pushcclosure(L, ptr, 0);
  rawSetGlobal(L, name);
  return ptr;
}

/** Frees a host function's (or hook's) function-table slot, once no state can call it. */
export function freeFunction(ptr: number): void {
  m.removeFunction(ptr);
}

/** Closes a state: every object it holds is freed. */
export function close(L: State): void {
  m._lua_close(L);
}

/** Compiles `source` (text only, never bytecode) as chunk `name`; null, or the compile error. */
export function load(L: State, source: string, name: string): string | null {
  const p = m._malloc(source.length + 1);
  if (p === 0) return "not enough memory";
  try {
    const heap: Uint8Array = m.HEAPU8;
    for (let i = 0; i < source.length; i++) heap[p + i] = source.charCodeAt(i);
    const status = lw.luaL_loadbufferx(L, p, source.length, name, "t");
    if (status === LUA_OK) return null;
    const e = toString(L, -1) ?? "unknown error";
    pop(L);
    return e;
  } finally {
    m._free(p);
  }
}

/** Runs the function on top with `nargs` arguments below... on the stack; null or the error text. */
export function pcall(L: State, nargs: number, nresults: number): string | null {
  const status = lw.lua_pcallk(L, nargs, nresults, 0, 0, null);
  if (status === LUA_OK) return null;
  const e = toString(L, -1) ?? "error object is not a string";
  pop(L);
  return e;
}

/** A reference (in the registry) to the value on top, popped; `unref` frees it. */
export function ref(L: State): number {
  return lw.luaL_ref(L, REGISTRY);
}

export function pushRef(L: State, r: number): void {
  m._lua_rawgeti(L, REGISTRY, BigInt(r));
}

export function unref(L: State, r: number): void {
  lw.luaL_unref(L, REGISTRY, r);
}

/** A new thread of `L`, kept alive by a registry reference until `unref`. */
export function newThread(L: State): { thread: State; ref: number } {
  const thread = m._lua_newthread(L);
  return { thread, ref: ref(L) };
}

/** Moves `n` values from `from`'s stack to `to`'s. */
export function xmove(from: State, to: State, n: number): void {
  m._lua_xmove(from, to, n);
}

const nresSlot = m._malloc(4);

/** Resumes a thread; returns its status and how many values it left on its stack. */
export function resume(thread: State, from: State, nargs: number): { status: number; nres: number } {
  const status = m._lua_resume(thread, from, nargs, nresSlot);
  return { status, nres: m.HEAP32[nresSlot >> 2] };
}

/** A count hook for `setCountHook` (a function-table slot: make one and keep it). */
export function makeHook(fn: (L: State) => void): number {
  return m.addFunction((thread: State) => fn(thread), "vii");
}

/** Calls `hook` (0: none) every `every` instructions `L` runs. */
export function setCountHook(L: State, hook: number, every: number): void {
  m._lua_sethook(L, hook, hook === 0 ? 0 : MASK_COUNT, every);
}

/** True when `L` may yield here (not inside a C call such as a sort comparator). */
export function isYieldable(L: State): boolean {
  return m._lua_isyieldable(L) !== 0;
}

/** From inside a count hook: suspends the running thread once the hook returns. */
export function yieldFromHook(L: State): void {
  m._lua_yieldk(L, 0, 0, 0);
}

/**
 * Raises the value on top as a Lua error from inside a host function: it unwinds through the
 * caller (a longjmp in wasm), so the host function must have nothing left to clean up.
 */
export function raise(L: State): never {
  m._lua_error(L);
  throw new Error("lua_error returned");
}

/** Frees a thread's resources after an error or when it is abandoned mid-run. */
export function closeThread(thread: State): void {
  m._lua_resetthread(thread);
}

/** Bytes the Lua heap holds (INFO used_memory_lua), through `collectgarbage` kept at `gcRef`. */
export function memoryBytes(L: State, gcRef: number): number {
  return Math.round(collect(L, gcRef, "count") * 1024);
}

/** One incremental collection step of `kb` kilobytes of work. */
export function collectStep(L: State, gcRef: number, kb: number): void {
  collect(L, gcRef, "step", kb);
}

function collect(L: State, gcRef: number, what: string, arg?: number): number {
  pushRef(L, gcRef);
  pushString(L, what);
  if (arg !== undefined) pushInteger(L, arg);
  if (pcall(L, arg === undefined ? 1 : 2, 1) !== null) return 0;
  const n = toNumber(L, -1);
  pop(L);
  return n;
}
