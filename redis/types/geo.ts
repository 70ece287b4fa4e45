/**
 * Geo commands on sorted sets: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEOSEARCHSTORE,
 * GEORADIUS, GEORADIUSBYMEMBER and their _RO forms.
 *
 * A position is stored as a sorted set member whose score is a 52-bit geohash: longitude and
 * latitude each quantized to 26 bits over [-180, 180] and [-85.05112878, 85.05112878] (the Web
 * Mercator band), longitude bits in the odd positions and latitude bits in the even ones. A hash
 * decodes to the centre of its cell. Distances are great-circle (haversine) on a sphere of radius
 * 6372797.560856 m.
 *
 * Writes go through the sorted set ops (redis/types/zset.ts): GEOADD is a ZADD with computed
 * scores, the STORE forms replace their destination (`["zstore", event, ...]`). There is no
 * op of its own, so merges are the sorted set's: a member added on two nodes gets the position of
 * the effect that sorts last.
 *
 * A search scans only the geohash cells that cover the shape's bounding box: the finest cell size
 * at which at most nine cells cover it, as score ranges visited in ascending order; every candidate
 * is then checked exactly against the shape.
 */
import { type Ctx, fail, getKey, getTyped, type Handler, parseInt64, upper, write } from "../command.ts";
import { DoubleReply, E, err, NULL_ARRAY, type Reply } from "../reply.ts";
import { storeResult, strictFloat, type ZNode, zsetCommands, type ZSetState, zsetType } from "./zset.ts";

const LON_MIN = -180, LON_MAX = 180;
const LAT_MIN = -85.05112878, LAT_MAX = 85.05112878;
/** Bits per coordinate in a stored score. */
const STEP = 26;
const EARTH_RADIUS = 6372797.560856;
const BASE32 = "0123456789bcdefghjkmnpqrstuvwxyz";

/** Meters per unit. */
const UNITS: Record<string, number> = { M: 1, KM: 1000, FT: 0.3048, MI: 1609.34 };

const E_UNIT = err("ERR unsupported unit provided. please use M, KM, FT, MI");
const E_MEMBER = err("ERR could not decode requested zset member");
const E_COUNT = err("ERR COUNT must be > 0");
const E_ANY = err("ERR the ANY argument requires COUNT argument");

const rad = (deg: number): number => deg * (Math.PI / 180);
const deg = (r: number): number => r / (Math.PI / 180);

// ---------------------------------------------------------------- geohash

/** Interleaves `lat` (even bits) and `lon` (odd bits), each up to 27 bits, into one integer. */
function interleave(lat: number, lon: number, bits: number): number {
  let h = 0;
  for (let i = bits - 1; i >= 0; i--) {
    h = h * 4 + (Math.floor(lon / 2 ** i) % 2) * 2 + (Math.floor(lat / 2 ** i) % 2);
  }
  return h;
}

/** The latitude (even bits) and longitude (odd bits) cell indexes of a 52-bit hash. */
function deinterleave(h: number): [number, number] {
  let lat = 0, lon = 0;
  for (let i = STEP; i >= 0; i--) {
    const pair = Math.floor(h / 4 ** i) % 4;
    lat = lat * 2 + (pair % 2);
    lon = lon * 2 + (pair >> 1);
  }
  return [lat, lon];
}

/** Cell index of `v` in [min, max] split into 2^step cells (the top edge gives 2^step, as Redis). */
function cell(v: number, min: number, max: number, step: number): number {
  return Math.trunc(((v - min) / (max - min)) * 2 ** step);
}

/**
 * The 52-bit score of a position. A position on the map's east or north edge (longitude 180, the
 * top latitude) gets cell index 2^26 and so a score past 2^52, outside every cell: searches never
 * find it, as in Redis.
 */
export function geoScore(lon: number, lat: number, latMin = LAT_MIN, latMax = LAT_MAX): number {
  return interleave(cell(lat, latMin, latMax, STEP), cell(lon, LON_MIN, LON_MAX, STEP), STEP + 1);
}

/** The position (centre of its cell, clamped to the valid band) a score stands for: [lon, lat]. */
export function geoDecode(score: number): [number, number] {
  const [ilat, ilon] = deinterleave(score);
  const n = 2 ** STEP;
  const lonLo = LON_MIN + (ilon / n) * (LON_MAX - LON_MIN);
  const lonHi = LON_MIN + ((ilon + 1) / n) * (LON_MAX - LON_MIN);
  const latLo = LAT_MIN + (ilat / n) * (LAT_MAX - LAT_MIN);
  const latHi = LAT_MIN + ((ilat + 1) / n) * (LAT_MAX - LAT_MIN);
  const lon = Math.min(LON_MAX, Math.max(LON_MIN, (lonLo + lonHi) / 2));
  const lat = Math.min(LAT_MAX, Math.max(LAT_MIN, (latLo + latHi) / 2));
  return [lon, lat];
}

/** The standard 11-character geohash of a score (re-encoded over latitudes [-90, 90]). */
export function geohashString(score: number): string {
  const [lon, lat] = geoDecode(score);
  const h = geoScore(lon, lat, -90, 90);
  let out = "";
  for (let i = 0; i < 11; i++) {
    const idx = i === 10 ? 0 : Math.floor(h / 2 ** (52 - (i + 1) * 5)) % 32;
    out += BASE32[idx];
  }
  return out;
}

/** Distance in meters between two points along a meridian. */
function latDistance(lat1: number, lat2: number): number {
  return EARTH_RADIUS * Math.abs(rad(lat2) - rad(lat1));
}

/** Great-circle distance in meters (haversine). */
export function geoDistance(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const v = Math.sin((rad(lon2) - rad(lon1)) / 2);
  if (v === 0) return latDistance(lat1, lat2);
  const lat1r = rad(lat1), lat2r = rad(lat2);
  const u = Math.sin((lat2r - lat1r) / 2);
  const a = u * u + Math.cos(lat1r) * Math.cos(lat2r) * v * v;
  return 2 * EARTH_RADIUS * Math.asin(Math.sqrt(a));
}

// ---------------------------------------------------------------- number formatting

/** `x` as printf("%.17f") with trailing zeros (and a trailing dot) removed, as Redis prints coordinates. */
export function humanDouble(x: number): string {
  if (x === 0 || !Number.isFinite(x)) return x === 0 ? "0" : String(x);
  const v = new DataView(new ArrayBuffer(8));
  v.setFloat64(0, Math.abs(x));
  const bits = v.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  if (exp !== 0) mant |= 1n << 52n;
  const e = (exp === 0 ? 1 : exp) - 1075;
  const scaled = mant * 10n ** 17n;
  let q: bigint;
  if (e >= 0) q = scaled << BigInt(e);
  else {
    const den = 1n << BigInt(-e);
    q = scaled / den;
    const r2 = (scaled % den) * 2n;
    if (r2 > den || (r2 === den && (q & 1n) === 1n)) q++;
  }
  const s = q.toString().padStart(18, "0");
  const frac = s.slice(-17).replace(/0+$/, "");
  const out = s.slice(0, -17) + (frac === "" ? "" : "." + frac);
  return out === "0" ? "0" : (x < 0 ? "-" : "") + out;
}

/** A coordinate in a reply: Redis's human format in RESP2, a double in RESP3. */
function coordReply(ctx: Ctx, x: number): Reply {
  return (ctx.client as { resp?: number } | undefined)?.resp === 3
    ? new DoubleReply(x, humanDouble(x))
    : humanDouble(x);
}

/** A distance in a reply: four decimals, a bulk string in both protocols. */
function distReply(d: number): string {
  return d.toFixed(4);
}

// ---------------------------------------------------------------- argument parsing

/** Parses a longitude/latitude pair; Redis's errors. */
function lonLatArgs(lonArg: string, latArg: string): [number, number] {
  const lon = strictFloat(lonArg), lat = strictFloat(latArg);
  if (lon === null || lat === null) fail(E.notFloat);
  if (lon < LON_MIN || lon > LON_MAX || lat < LAT_MIN || lat > LAT_MAX) {
    fail(err(`ERR invalid longitude,latitude pair ${lon.toFixed(6)},${lat.toFixed(6)}`));
  }
  return [lon, lat];
}

function unitArg(s: string): number {
  const u = UNITS[upper(s)];
  if (u === undefined) fail(E_UNIT);
  return u;
}

/** A non-negative distance argument (`what` names it in the error). */
function distanceArg(s: string, what: string): number {
  const d = strictFloat(s);
  if (d === null) fail(err(`ERR need numeric ${what}`));
  return d;
}

// ---------------------------------------------------------------- GEOADD, GEOPOS, GEODIST, GEOHASH

function geoadd(ctx: Ctx, args: string[]): Reply {
  let j = 2, nx = false, xx = false;
  const flags: string[] = [];
  for (; j < args.length; j++) {
    const o = upper(args[j]);
    if (o === "NX") nx = true;
    else if (o === "XX") xx = true;
    else if (o !== "CH") break;
    flags.push(o);
  }
  if ((args.length - j) % 3 !== 0 || (nx && xx)) fail(E.syntax);
  const zargs = ["zadd", args[1], ...flags];
  for (; j < args.length; j += 3) {
    const [lon, lat] = lonLatArgs(args[j], args[j + 1]);
    zargs.push(String(geoScore(lon, lat)), args[j + 2]);
  }
  return zsetCommands.zadd(ctx, zargs) as Reply;
}

function geopos(ctx: Ctx, args: string[]): Reply {
  const z = getTyped(ctx, args[1], zsetType);
  const out: Reply[] = [];
  for (let j = 2; j < args.length; j++) {
    const s = z?.score(args[j]);
    if (s === undefined) out.push(NULL_ARRAY);
    else {
      const [lon, lat] = geoDecode(s);
      out.push([coordReply(ctx, lon), coordReply(ctx, lat)]);
    }
  }
  return out;
}

function geodist(ctx: Ctx, args: string[]): Reply {
  if (args.length > 5) fail(E.syntax);
  const unit = args.length === 5 ? unitArg(args[4]) : 1;
  const z = getTyped(ctx, args[1], zsetType);
  const a = z?.score(args[2]), b = z?.score(args[3]);
  if (a === undefined || b === undefined) return null;
  const [lon1, lat1] = geoDecode(a), [lon2, lat2] = geoDecode(b);
  return distReply(geoDistance(lon1, lat1, lon2, lat2) / unit);
}

function geohash(ctx: Ctx, args: string[]): Reply {
  const z = getTyped(ctx, args[1], zsetType);
  const out: Reply[] = [];
  for (let j = 2; j < args.length; j++) {
    const s = z?.score(args[j]);
    out.push(s === undefined ? null : geohashString(s));
  }
  return out;
}

// ---------------------------------------------------------------- searches

/** A search area in meters around a centre. */
export interface Shape {
  lon: number;
  lat: number;
  /** Circle radius, or -1 for a box. */
  radius: number;
  width: number;
  height: number;
}

/** The distance in meters from the centre when the point is inside the shape, else -1. */
export function inShape(shape: Shape, lon: number, lat: number): number {
  if (shape.radius >= 0) {
    const d = geoDistance(shape.lon, shape.lat, lon, lat);
    return d > shape.radius ? -1 : d;
  }
  if (latDistance(lat, shape.lat) > shape.height / 2) return -1;
  if (geoDistance(lon, lat, shape.lon, lat) > shape.width / 2) return -1;
  return geoDistance(shape.lon, shape.lat, lon, lat);
}

/** Half-extent in degrees of longitude of the shape (a conservative bound), or 180 for all. */
function lonHalfExtent(shape: Shape, latLo: number, latHi: number): number {
  const margin = 1 + 1e-9;
  if (shape.radius >= 0) {
    // The widest parallel of a spherical cap of angular radius t around latitude p: asin(sin t / cos p).
    const t = (shape.radius / EARTH_RADIUS) * margin;
    const c = Math.cos(rad(shape.lat));
    if (t >= Math.PI / 2 || Math.sin(t) >= c) return 180;
    return deg(Math.asin(Math.sin(t) / c));
  }
  // A point at latitude p is inside when the chord along its parallel is short enough.
  const t = (shape.width / 2 / EARTH_RADIUS) * margin;
  const p = Math.min(90, Math.max(Math.abs(latLo), Math.abs(latHi)));
  const c = Math.cos(rad(p));
  if (t >= Math.PI || Math.sin(t / 2) >= c) return 180;
  return deg(2 * Math.asin(Math.sin(t / 2) / c));
}

/** Equatorial half-circumference in meters (the Web Mercator extent). */
const MERCATOR_MAX = 20037726.37;

/** Neighbour offsets [dLat, dLon] in scan order: the centre, N, S, E, W, NE, NW, SE, SW. */
const NEIGHBOURS: [number, number][] = [[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [1, -1], [-1, 1], [
  -1,
  -1,
]];

/**
 * The cell size for a search of `range` meters at `lat`: cells about twice the range (in Mercator
 * meters), one size coarser beyond 66 degrees and again beyond 80, within 1..26 bits.
 */
function estimateStep(range: number, lat: number): number {
  if (range === 0) return STEP;
  let step = range >= MERCATOR_MAX ? 0 : Math.ceil(Math.log2(MERCATOR_MAX / range)) - 1;
  if (Math.abs(lat) > 66) step--;
  if (Math.abs(lat) > 80) step--;
  return Math.min(STEP, Math.max(1, step));
}

/**
 * Score ranges [lo, hi) covering the shape: the cell holding the centre and those of its eight
 * neighbours that meet the shape's bounding box, at the finest estimated step where these nine
 * cells cover the box. The centre's cell comes first, then N, S, E, W, NE, NW, SE, SW.
 */
export function coveringRanges(shape: Shape): [number, number][] {
  const half = shape.radius >= 0 ? shape.radius : shape.height / 2;
  const dLat = deg(half / EARTH_RADIUS) * (1 + 1e-9) + 1e-9;
  const latLo = Math.max(LAT_MIN, shape.lat - dLat), latHi = Math.min(LAT_MAX, shape.lat + dLat);
  const dLon = lonHalfExtent(shape, shape.lat - dLat, shape.lat + dLat) + 1e-9;
  const range = shape.radius >= 0 ? shape.radius : Math.hypot(shape.width / 2, shape.height / 2);
  for (let step = estimateStep(range, shape.lat);; step--) {
    const n = 2 ** step;
    const ic = Math.min(n - 1, cell(shape.lat, LAT_MIN, LAT_MAX, step));
    const jc = Math.min(n - 1, cell(shape.lon, LON_MIN, LON_MAX, step));
    const i0 = Math.min(n - 1, cell(latLo, LAT_MIN, LAT_MAX, step));
    const i1 = Math.min(n - 1, cell(latHi, LAT_MIN, LAT_MAX, step));
    const j0 = Math.floor(((shape.lon - dLon - LON_MIN) / 360) * n);
    const j1 = Math.floor(((shape.lon + dLon - LON_MIN) / 360) * n);
    // At step 1 the nine cells (two rows, two columns wrapped) cover the whole map.
    const allLon = dLon >= 180 || step === 1;
    if (step > 1 && (i0 < ic - 1 || i1 > ic + 1 || allLon || j0 < jc - 1 || j1 > jc + 1)) continue;
    const unit = 2 ** (2 * (STEP - step));
    const seen = new Set<number>();
    const ranges: [number, number][] = [];
    for (const [di, dj] of NEIGHBOURS) {
      const i = ic + di, j = jc + dj;
      if (i < i0 || i > i1 || (!allLon && (j < j0 || j > j1))) continue;
      const h = interleave(i, ((j % n) + n) % n, step);
      if (seen.has(h)) continue;
      seen.add(h);
      ranges.push([h * unit, (h + 1) * unit]);
    }
    return ranges;
  }
}

/** One search result. */
interface Found {
  member: string;
  score: number;
  dist: number;
  lon: number;
  lat: number;
}

/** The members inside `shape`, in score order; stops after `limit` (0 = all). */
function searchShape(z: ZSetState, shape: Shape, limit: number): Found[] {
  const out: Found[] = [];
  for (const [lo, hi] of coveringRanges(shape)) {
    const first = z.firstIn({ above: (n: ZNode) => n.score >= lo, below: (n: ZNode) => n.score < hi });
    for (let n = first?.[0] ?? null; n !== null && n.score < hi; n = n.next[0]) {
      const [lon, lat] = geoDecode(n.score);
      const d = inShape(shape, lon, lat);
      if (d < 0) continue;
      out.push({ member: n.member, score: n.score, dist: d, lon, lat });
      if (limit > 0 && out.length >= limit) return out;
    }
  }
  return out;
}

/** Which command form is being parsed. */
interface SearchForm {
  /** GEOSEARCH / GEOSEARCHSTORE syntax (FROM*, BY*). */
  search: boolean;
  /** Index of the source key. */
  src: number;
  /** STORE / STOREDIST are accepted (GEORADIUS, GEORADIUSBYMEMBER). */
  storeOpts: boolean;
  /** The destination is args[1] (GEOSEARCHSTORE). */
  searchStore: boolean;
  /** GEORADIUSBYMEMBER: the centre is a member. */
  byMember: boolean;
}

interface SearchPlan {
  member: string | null;
  lon: number;
  lat: number;
  radius: number;
  width: number;
  height: number;
  unit: number;
  withDist: boolean;
  withHash: boolean;
  withCoord: boolean;
  sort: "" | "ASC" | "DESC";
  count: number;
  any: boolean;
  storeKey: string | null;
  storeDist: boolean;
}

/** Parses a search command line; errors in Redis's order. */
function parseSearch(args: readonly string[], form: SearchForm): SearchPlan {
  const p: SearchPlan = {
    member: null,
    lon: 0,
    lat: 0,
    radius: -1,
    width: -1,
    height: -1,
    unit: 1,
    withDist: false,
    withHash: false,
    withCoord: false,
    sort: "",
    count: 0,
    any: false,
    storeKey: form.searchStore ? args[1] : null,
    storeDist: false,
  };
  let j = form.src + 1;
  let from = false, by = false;
  if (!form.search) {
    if (form.byMember) p.member = args[j++];
    else {
      [p.lon, p.lat] = lonLatArgs(args[j], args[j + 1]);
      j += 2;
    }
    p.radius = radiusArg(args[j]);
    p.unit = unitArg(args[j + 1]);
    j += 2;
  }
  const name = args[0].toUpperCase();
  for (; j < args.length; j++) {
    const o = upper(args[j]);
    const left = args.length - j - 1;
    if (o === "WITHDIST") p.withDist = true;
    else if (o === "WITHHASH") p.withHash = true;
    else if (o === "WITHCOORD") p.withCoord = true;
    else if (o === "ANY") p.any = true;
    else if (o === "ASC" || o === "DESC") p.sort = o;
    else if (o === "COUNT" && left >= 1) {
      const n = parseInt64(args[++j]);
      if (n === null) fail(E.notInt);
      if (n <= 0) fail(E_COUNT);
      p.count = typeof n === "bigint" ? Number.MAX_SAFE_INTEGER : n;
    } else if ((o === "STORE" || o === "STOREDIST") && left >= 1 && form.storeOpts) {
      p.storeKey = args[++j];
      p.storeDist = o === "STOREDIST";
    } else if (o === "STOREDIST" && form.searchStore) p.storeDist = true;
    else if (o === "FROMMEMBER" && left >= 1 && form.search && !from) {
      p.member = args[++j];
      from = true;
    } else if (o === "FROMLONLAT" && left >= 2 && form.search && !from) {
      [p.lon, p.lat] = lonLatArgs(args[j + 1], args[j + 2]);
      j += 2;
      from = true;
    } else if (o === "BYRADIUS" && left >= 2 && form.search && !by) {
      p.radius = radiusArg(args[j + 1]);
      p.unit = unitArg(args[j + 2]);
      j += 2;
      by = true;
    } else if (o === "BYBOX" && left >= 3 && form.search && !by) {
      p.width = distanceArg(args[j + 1], "width");
      p.height = distanceArg(args[j + 2], "height");
      if (p.width < 0 || p.height < 0) fail(err("ERR height or width cannot be negative"));
      p.unit = unitArg(args[j + 3]);
      j += 3;
      by = true;
    } else fail(E.syntax);
  }
  if (form.search && !from) {
    fail(err(`ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ${args[0]}`));
  }
  if (form.search && !by) fail(err(`ERR exactly one of BYRADIUS and BYBOX can be specified for ${args[0]}`));
  if (p.any && p.count === 0) fail(E_ANY);
  const withAny = p.withDist || p.withHash || p.withCoord;
  if (withAny && form.searchStore) {
    fail(err(`ERR ${name} is not compatible with WITHDIST, WITHHASH and WITHCOORD options`));
  }
  if (withAny && p.storeKey !== null) {
    fail(err(`ERR STORE option in ${name} is not compatible with WITHDIST, WITHHASH and WITHCOORD options`));
  }
  if (p.count > 0 && p.sort === "" && !p.any) p.sort = "ASC";
  return p;
}

function radiusArg(s: string): number {
  const r = distanceArg(s, "radius");
  if (r < 0) fail(err("ERR radius cannot be negative"));
  return r;
}

/** One result in a reply: the member alone, or [member, dist?, hash?, [lon, lat]?]. */
function foundReply(ctx: Ctx, p: SearchPlan, f: Found): Reply {
  if (!p.withDist && !p.withHash && !p.withCoord) return f.member;
  const out: Reply[] = [f.member];
  if (p.withDist) out.push(distReply(f.dist / p.unit));
  if (p.withHash) out.push(f.score);
  if (p.withCoord) out.push([coordReply(ctx, f.lon), coordReply(ctx, f.lat)]);
  return out;
}

function geoSearch(form: SearchForm): Handler {
  return (ctx, args) => {
    const z = getTyped(ctx, args[form.src], zsetType);
    const p = parseSearch(args, form);
    if (z === undefined) {
      if (p.storeKey === null) return [];
      if (getKey(ctx, p.storeKey) !== undefined) write(ctx, p.storeKey, ["del"]);
      return 0;
    }
    if (p.member !== null) {
      const s = z.score(p.member);
      if (s === undefined) fail(E_MEMBER);
      [p.lon, p.lat] = geoDecode(s);
    }
    const m = p.unit;
    const shape: Shape = p.radius >= 0
      ? { lon: p.lon, lat: p.lat, radius: p.radius * m, width: 0, height: 0 }
      : { lon: p.lon, lat: p.lat, radius: -1, width: p.width * m, height: p.height * m };
    let found = searchShape(z, shape, p.any ? p.count : 0);
    if (p.sort === "ASC") found.sort((a, b) => a.dist - b.dist);
    else if (p.sort === "DESC") found.sort((a, b) => b.dist - a.dist);
    if (p.count > 0 && found.length > p.count) found = found.slice(0, p.count);
    if (p.storeKey === null) return found.map((f) => foundReply(ctx, p, f));
    // Scores: the geohashes, or with STOREDIST the distances in the query's unit.
    const items = found.map((f) => [f.member, p.storeDist ? f.dist / p.unit : f.score] as const);
    return storeResult(ctx, p.storeKey, items, form.search ? "geosearchstore" : "georadiusstore");
  };
}

const RADIUS: SearchForm = { search: false, src: 1, storeOpts: true, searchStore: false, byMember: false };
const RADIUS_RO: SearchForm = { ...RADIUS, storeOpts: false };
const BYMEMBER: SearchForm = { ...RADIUS, byMember: true };
const BYMEMBER_RO: SearchForm = { ...BYMEMBER, storeOpts: false };
const SEARCH: SearchForm = { search: true, src: 1, storeOpts: false, searchStore: false, byMember: false };
const SEARCHSTORE: SearchForm = { ...SEARCH, src: 2, searchStore: true };

/** Command handlers, keyed by lower-case command name. */
export const geoCommands: Record<string, Handler> = {
  geoadd,
  geopos,
  geodist,
  geohash,
  georadius: geoSearch(RADIUS),
  georadius_ro: geoSearch(RADIUS_RO),
  georadiusbymember: geoSearch(BYMEMBER),
  georadiusbymember_ro: geoSearch(BYMEMBER_RO),
  geosearch: geoSearch(SEARCH),
  geosearchstore: geoSearch(SEARCHSTORE),
};

/** Why a geo command is exclusive given its arguments, or null (see redis/exclusive.ts). */
export const geoExclusive: Record<string, (args: readonly string[]) => string | null> = {
  geoadd(args) {
    for (let j = 2; j < args.length; j++) {
      const o = upper(args[j]);
      if (o === "NX" || o === "XX") return `GEOADD ${o} is a conditional write`;
      if (o !== "CH") break;
    }
    return null;
  },
};
