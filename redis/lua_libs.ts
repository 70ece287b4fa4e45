/**
 * The libraries Redis gives scripts besides `redis`: `bit` (LuaBitOp's 32-bit operations),
 * `cjson` (JSON), `cmsgpack` (MessagePack) and `struct` (binary packing), written in Lua on
 * Lua 5.4's own operators and `string.pack`. Run by the prelude with `cjson.null` (a NULL light
 * userdata, which converts to a nil reply); it returns the four tables.
 */
export const LIBS = `
local json_null = ...
local type, tostring, tonumber, error, pairs, select = type, tostring, tonumber, error, pairs, select
local mtype, floor, tointeger, huge, fmod = math.type, math.floor, math.tointeger, math.huge, math.fmod
local sfmt, schar, sbyte, ssub, sfind, smatch, srep = string.format, string.char, string.byte, string.sub, string.find, string.match, string.rep
local spack, sunpack, concat, uchar = string.pack, string.unpack, table.concat, utf8.char

local function argerror(n, fname, msg)
  error("bad argument #" .. n .. " to '" .. fname .. "' (" .. msg .. ")", 3)
end

---------------------------------------------------------------- bit

local function tobit(x, n, fname)
  local v = tonumber(x)
  if v == nil then argerror(n or 1, fname or "tobit", "number expected, got " .. type(x)) end
  if mtype(v) ~= "integer" then
    -- LuaBitOp rounds to nearest, ties to even.
    v = fmod(v, 4294967296)
    local f = floor(v)
    local d = v - f
    if d > 0.5 or (d == 0.5 and f % 2 == 1) then f = f + 1 end
    v = f
  end
  v = v & 0xffffffff
  if v >= 0x80000000 then v = v - 0x100000000 end
  return v
end

local bit = {}
bit.tobit = function(x) return tobit(x, 1, "tobit") end
bit.bnot = function(x) return tobit(~tobit(x, 1, "bnot")) end
local function fold(fname, op)
  return function(x, ...)
    local v = tobit(x, 1, fname)
    for i = 1, select("#", ...) do v = op(v, tobit((select(i, ...)), i + 1, fname)) end
    return tobit(v)
  end
end
bit.band = fold("band", function(a, b) return a & b end)
bit.bor = fold("bor", function(a, b) return a | b end)
bit.bxor = fold("bxor", function(a, b) return a ~ b end)
bit.lshift = function(x, n) return tobit(tobit(x, 1, "lshift") << (tobit(n, 2, "lshift") & 31)) end
bit.rshift = function(x, n) return tobit((tobit(x, 1, "rshift") & 0xffffffff) >> (tobit(n, 2, "rshift") & 31)) end
bit.arshift = function(x, n) return tobit(tobit(x, 1, "arshift") // (1 << (tobit(n, 2, "arshift") & 31))) end
bit.rol = function(x, n)
  local v, s = tobit(x, 1, "rol") & 0xffffffff, tobit(n, 2, "rol") & 31
  return tobit((v << s) | (v >> (32 - s)))
end
bit.ror = function(x, n)
  local v, s = tobit(x, 1, "ror") & 0xffffffff, tobit(n, 2, "ror") & 31
  return tobit((v >> s) | (v << (32 - s)))
end
bit.bswap = function(x)
  local v = tobit(x, 1, "bswap") & 0xffffffff
  return tobit(((v >> 24) & 0xff) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | ((v << 24) & 0xff000000))
end
bit.tohex = function(x, n)
  local v = tobit(x, 1, "tohex") & 0xffffffff
  local digits = n == nil and 8 or tobit(n, 2, "tohex")
  local f = "%08x"
  if digits < 0 then digits, f = -digits, "%08X" end
  if digits > 8 then digits = 8 end
  return ssub(sfmt(f, v), 9 - digits)
end

---------------------------------------------------------------- cjson

local cfg = {
  encode_max_depth = 1000, decode_max_depth = 1000, encode_invalid_numbers = false,
  decode_invalid_numbers = true, precision = 14, sparse_convert = false, sparse_ratio = 2, sparse_safe = 10,
  keep_buffer = true,
}

local escapes = {
  ['"'] = '\\\\"', ['\\\\'] = '\\\\\\\\', ['/'] = '\\\\/', ['\\b'] = '\\\\b', ['\\f'] = '\\\\f', ['\\n'] = '\\\\n',
  ['\\r'] = '\\\\r', ['\\t'] = '\\\\t',
}
local function escape(c) return escapes[c] or sfmt("\\\\u%04x", sbyte(c)) end
local function encode_string(s)
  return '"' .. (s:gsub('[%c"\\\\/]', escape)) .. '"'
end

local function encode_number(x)
  if x ~= x or x == huge or x == -huge then
    local how = cfg.encode_invalid_numbers
    if how == false then error("Cannot serialise number: must not be NaN or Inf", 0) end
    if how == "null" then return "null" end
    if x ~= x then return "nan" end
    return x > 0 and "inf" or "-inf"
  end
  if mtype(x) == "integer" then return tostring(x) end
  return sfmt("%." .. cfg.precision .. "g", x)
end

-- The length of an array-like table, or -1 when it must be an object.
local function array_length(t)
  local max, n = 0, 0
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or floor(k) ~= k then return -1 end
    if k > max then max = k end
    n = n + 1
  end
  if max > cfg.sparse_safe and max > n * cfg.sparse_ratio then
    if not cfg.sparse_convert then error("Cannot serialise table: excessively sparse array", 0) end
    return -1
  end
  return max
end

local encode_value
encode_value = function(v, depth, out)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = encode_string(v)
  elseif t == "number" then
    out[#out + 1] = encode_number(v)
  elseif t == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif v == nil or v == json_null then
    out[#out + 1] = "null"
  elseif t == "table" then
    depth = depth + 1
    if depth > cfg.encode_max_depth then error("Cannot serialise, excessive nesting (" .. depth .. ")", 0) end
    local n = array_length(v)
    if n > 0 then
      out[#out + 1] = "["
      for i = 1, n do
        if i > 1 then out[#out + 1] = "," end
        encode_value(v[i], depth, out)
      end
      out[#out + 1] = "]"
    else
      out[#out + 1] = "{"
      local first = true
      for k, val in pairs(v) do
        local key
        if type(k) == "string" then key = encode_string(k)
        elseif type(k) == "number" then key = '"' .. encode_number(k) .. '"'
        else error("Cannot serialise table: table key must be a number or string", 0) end
        if not first then out[#out + 1] = "," end
        first = false
        out[#out + 1] = key
        out[#out + 1] = ":"
        encode_value(val, depth, out)
      end
      out[#out + 1] = "}"
    end
  else
    error("Cannot serialise " .. t .. ": type not supported", 0)
  end
end

local function decode_error(what, i)
  error(what .. " at character " .. i, 0)
end

local function skip(s, i)
  return (sfind(s, "[^ \\t\\n\\r]", i)) or #s + 1
end

local unescapes = { ['"'] = '"', ['\\\\'] = '\\\\', ['/'] = '/', b = '\\b', f = '\\f', n = '\\n', r = '\\r', t = '\\t' }

local function decode_string(s, i)
  local out, j = {}, i + 1
  while true do
    local k = sfind(s, '["\\\\]', j)
    if k == nil then decode_error("Expected value but found unexpected end of string", #s + 1) end
    out[#out + 1] = ssub(s, j, k - 1)
    if sbyte(s, k) == 34 then return concat(out), k + 1 end
    local c = ssub(s, k + 1, k + 1)
    if c == "u" then
      local hex = smatch(s, "^%x%x%x%x", k + 2)
      if hex == nil then decode_error("Expected value but found invalid unicode escape code", k) end
      local cp = tonumber(hex, 16)
      j = k + 6
      if cp >= 0xd800 and cp <= 0xdbff then
        local low = smatch(s, "^\\\\u(%x%x%x%x)", j)
        if low == nil then decode_error("Expected value but found invalid unicode escape code", k) end
        cp = 0x10000 + ((cp - 0xd800) << 10) + (tonumber(low, 16) - 0xdc00)
        j = j + 6
      end
      out[#out + 1] = uchar(cp)
    else
      local r = unescapes[c]
      if r == nil then decode_error("Expected value but found invalid escape code", k) end
      out[#out + 1] = r
      j = k + 2
    end
  end
end

local decode_value
local function decode_number(s, i)
  local text = smatch(s, "^-?%d+%.?%d*[eE][-+]?%d+", i) or smatch(s, "^-?%d+%.?%d*", i)
    or smatch(s, "^-?%.%d+[eE][-+]?%d+", i) or smatch(s, "^-?%.%d+", i)
  if text == nil then decode_error("Expected value but found invalid token", i) end
  local n = tonumber(text)
  if n == nil then decode_error("Expected value but found invalid number", i) end
  -- Lua 5.1 (Redis's) has one number type: an integral value prints without ".0".
  if mtype(n) == "float" and n == floor(n) and n > -2^53 and n < 2^53 then n = tointeger(n) end
  return n, i + #text
end

decode_value = function(s, i, depth)
  i = skip(s, i)
  local c = sbyte(s, i)
  if c == 34 then return decode_string(s, i) end
  if c == 123 or c == 91 then
    depth = depth + 1
    if depth > cfg.decode_max_depth then
      decode_error("Found too many nested data structures (" .. depth .. ")", i)
    end
    local t = {}
    i = skip(s, i + 1)
    local close = c == 123 and 125 or 93
    if sbyte(s, i) == close then return t, i + 1 end
    local n = 0
    while true do
      if c == 123 then
        if sbyte(s, i) ~= 34 then decode_error("Expected object key string but found invalid token", i) end
        local k
        k, i = decode_string(s, i)
        i = skip(s, i)
        if sbyte(s, i) ~= 58 then decode_error("Expected colon but found invalid token", i) end
        t[k], i = decode_value(s, i + 1, depth)
      else
        n = n + 1
        t[n], i = decode_value(s, i, depth)
      end
      i = skip(s, i)
      local d = sbyte(s, i)
      if d == close then return t, i + 1 end
      if d ~= 44 then
        decode_error(c == 123 and "Expected comma or object end but found invalid token"
          or "Expected comma or array end but found invalid token", i)
      end
      i = skip(s, i + 1)
    end
  end
  if ssub(s, i, i + 3) == "true" then return true, i + 4 end
  if ssub(s, i, i + 4) == "false" then return false, i + 5 end
  if ssub(s, i, i + 3) == "null" then return json_null, i + 4 end
  if c == nil then decode_error("Expected value but found T_END", i) end
  return decode_number(s, i)
end

local cjson = { null = json_null, _NAME = "cjson", _VERSION = "2.1.0" }
cjson.encode = function(...)
  if select("#", ...) ~= 1 then error("bad argument #1 to 'encode' (expected 1 argument)", 2) end
  local out = {}
  encode_value((...), 0, out)
  return concat(out)
end
cjson.decode = function(s)
  if type(s) ~= "string" then argerror(1, "decode", "string expected, got " .. type(s)) end
  local v, i = decode_value(s, 1, 0)
  i = skip(s, i)
  if i <= #s then decode_error("Expected the end but found invalid token", i) end
  return v
end
local function option(name, check)
  return function(v)
    if v ~= nil then cfg[name] = check(v) end
    return cfg[name]
  end
end
local function depth_option(v)
  v = tointeger(v)
  if v == nil or v < 1 then error("bad argument #1 (expected integer between 1 and 2147483647)", 3) end
  return v
end
local function bool_option(v)
  if v == "null" then return "null" end
  return v == true or v == "on"
end
cjson.encode_max_depth = option("encode_max_depth", depth_option)
cjson.decode_max_depth = option("decode_max_depth", depth_option)
cjson.encode_invalid_numbers = option("encode_invalid_numbers", bool_option)
cjson.decode_invalid_numbers = option("decode_invalid_numbers", bool_option)
cjson.encode_keep_buffer = option("keep_buffer", bool_option)
cjson.encode_number_precision = option("precision", function(v)
  v = tointeger(v)
  if v == nil or v < 1 or v > 14 then error("bad argument #1 (expected integer between 1 and 14)", 3) end
  return v
end)
cjson.encode_sparse_array = function(convert, ratio, safe)
  if convert ~= nil then cfg.sparse_convert = convert == true or convert == "on" end
  if ratio ~= nil then cfg.sparse_ratio = tointeger(ratio) or cfg.sparse_ratio end
  if safe ~= nil then cfg.sparse_safe = tointeger(safe) or cfg.sparse_safe end
  return cfg.sparse_convert, cfg.sparse_ratio, cfg.sparse_safe
end

---------------------------------------------------------------- cmsgpack

local MAX_NESTING = 16

local function pack_integer(x)
  if x >= 0 then
    if x < 128 then return schar(x) end
    if x < 256 then return spack(">BB", 0xcc, x) end
    if x < 65536 then return spack(">BI2", 0xcd, x) end
    if x < 4294967296 then return spack(">BI4", 0xce, x) end
    return spack(">Bi8", 0xcf, x)
  end
  if x >= -32 then return schar(x & 0xff) end
  if x >= -128 then return spack(">Bi1", 0xd0, x) end
  if x >= -32768 then return spack(">Bi2", 0xd1, x) end
  if x >= -2147483648 then return spack(">Bi4", 0xd2, x) end
  return spack(">Bi8", 0xd3, x)
end

local function pack_length(n, fix, fixmax, b16, b32)
  if n <= fixmax then return schar(fix | n) end
  if n < 65536 then return spack(">BI2", b16, n) end
  return spack(">BI4", b32, n)
end

local pack_value
pack_value = function(v, level, out)
  local t = type(v)
  if t == "number" then
    if mtype(v) == "integer" then
      out[#out + 1] = pack_integer(v)
    elseif v == floor(v) and v >= -2^63 and v < 2^63 then
      out[#out + 1] = pack_integer(tointeger(v))
    elseif sunpack(">f", spack(">f", v)) == v then
      out[#out + 1] = spack(">Bf", 0xca, v)
    else
      out[#out + 1] = spack(">Bd", 0xcb, v)
    end
  elseif t == "string" then
    local n = #v
    if n < 32 then out[#out + 1] = schar(0xa0 | n)
    elseif n < 256 then out[#out + 1] = spack(">BB", 0xd9, n)
    elseif n < 65536 then out[#out + 1] = spack(">BI2", 0xda, n)
    else out[#out + 1] = spack(">BI4", 0xdb, n) end
    out[#out + 1] = v
  elseif t == "boolean" then
    out[#out + 1] = v and "\\xc3" or "\\xc2"
  elseif t == "table" and level < MAX_NESTING then
    local max, count, array = 0, 0, true
    for k in pairs(v) do
      count = count + 1
      if mtype(k) == "integer" and k > 0 then
        if k > max then max = k end
      else
        array = false
      end
    end
    if array and max == count then
      out[#out + 1] = pack_length(max, 0x90, 15, 0xdc, 0xdd)
      for i = 1, max do pack_value(v[i], level + 1, out) end
    else
      out[#out + 1] = pack_length(count, 0x80, 15, 0xde, 0xdf)
      for k, val in pairs(v) do
        pack_value(k, level + 1, out)
        pack_value(val, level + 1, out)
      end
    end
  else
    out[#out + 1] = "\\xc0"
  end
end

local function need(s, i, n)
  if i + n - 1 > #s then error("Missing bytes in input.", 0) end
end

local unpack_value
local function unpack_table(s, i, n, map)
  local t = {}
  for k = 1, n do
    if map then
      local key, val
      key, i = unpack_value(s, i)
      val, i = unpack_value(s, i)
      if key ~= nil then t[key] = val end
    else
      t[k], i = unpack_value(s, i)
    end
  end
  return t, i
end

unpack_value = function(s, i)
  need(s, i, 1)
  local c = sbyte(s, i)
  i = i + 1
  if c < 0x80 then return c, i end
  if c >= 0xe0 then return c - 256, i end
  if c >= 0xa0 and c <= 0xbf then
    local n = c & 0x1f
    need(s, i, n)
    return ssub(s, i, i + n - 1), i + n
  end
  if c >= 0x90 and c <= 0x9f then return unpack_table(s, i, c & 0x0f, false) end
  if c >= 0x80 and c <= 0x8f then return unpack_table(s, i, c & 0x0f, true) end
  if c == 0xc0 then return nil, i end
  if c == 0xc2 then return false, i end
  if c == 0xc3 then return true, i end
  local fmt = ({
    [0xcc] = ">B", [0xcd] = ">I2", [0xce] = ">I4", [0xcf] = ">i8", [0xd0] = ">i1", [0xd1] = ">i2",
    [0xd2] = ">i4", [0xd3] = ">i8", [0xca] = ">f", [0xcb] = ">d",
  })[c]
  if fmt ~= nil then
    need(s, i, c == 0xca and 4 or c == 0xcb and 8 or tonumber(smatch(fmt, "%d") or 1))
    local v, j = sunpack(fmt, s, i)
    if c == 0xcf and v < 0 then v = v + 18446744073709551616.0 end
    return v, j
  end
  local len = ({ [0xd9] = ">B", [0xda] = ">I2", [0xdb] = ">I4", [0xc4] = ">B", [0xc5] = ">I2", [0xc6] = ">I4" })[c]
  if len ~= nil then
    need(s, i, (c == 0xd9 or c == 0xc4) and 1 or (c == 0xda or c == 0xc5) and 2 or 4)
    local n, j = sunpack(len, s, i)
    need(s, j, n)
    return ssub(s, j, j + n - 1), j + n
  end
  if c == 0xdc or c == 0xde then
    need(s, i, 2)
    local n, j = sunpack(">I2", s, i)
    return unpack_table(s, j, n, c == 0xde)
  end
  if c == 0xdd or c == 0xdf then
    need(s, i, 4)
    local n, j = sunpack(">I4", s, i)
    return unpack_table(s, j, n, c == 0xdf)
  end
  error("Bad data format in input.", 0)
end

local cmsgpack = { _NAME = "cmsgpack", _VERSION = "lua-cmsgpack 0.4.0" }
cmsgpack.pack = function(...)
  local n = select("#", ...)
  if n == 0 then error("MessagePack pack needs input.", 2) end
  local out = {}
  for k = 1, n do pack_value((select(k, ...)), 0, out) end
  return concat(out)
end

-- Decodes up to limit objects (0: all) from byte offset (0-based); returns the next offset (-1 at
-- the end) and the objects.
local function unpack_from(s, limit, offset)
  if type(s) ~= "string" then error("bad argument #1 (string expected)", 3) end
  local i, vals, n = offset + 1, {}, 0
  while i <= #s and (limit == 0 or n < limit) do
    n = n + 1
    vals[n], i = unpack_value(s, i)
  end
  return i > #s and -1 or i - 1, vals, n
end
cmsgpack.unpack = function(s)
  local _, vals, n = unpack_from(s, 0, 0)
  return table.unpack(vals, 1, n)
end
cmsgpack.unpack_one = function(s, offset)
  local next, vals, n = unpack_from(s, 1, offset or 0)
  return next, table.unpack(vals, 1, n)
end
cmsgpack.unpack_limit = function(s, limit, offset)
  local next, vals, n = unpack_from(s, limit or 0, offset or 0)
  return next, table.unpack(vals, 1, n)
end

---------------------------------------------------------------- struct

-- Roberto Ierusalimschy's struct format on string.pack, item by item: sizes are those of a 64-bit
-- Redis (long and size_t take 8 bytes); integers wrap to their size; "!n" aligns each number to
-- min(its size, n) from the start of the data; s is a zero-terminated string; c0 packs a whole
-- string and, unpacking, takes its length from the number before it.
local SIZES = { b = 1, B = 1, h = 2, H = 2, l = 8, L = 8, T = 8, f = 4, d = 8 }

local function struct_items(fmt)
  local items, i = {}, 1
  while i <= #fmt do
    local c = ssub(fmt, i, i)
    local digits = smatch(fmt, "^%d+", i + 1)
    i = i + 1 + (digits and #digits or 0)
    local n = digits and tonumber(digits)
    if c == "<" or c == ">" or c == "=" then items[#items + 1] = { kind = "endian", fmt = c }
    elseif c == "!" then items[#items + 1] = { kind = "align", n = n or 8 }
    elseif c == " " then -- ignored
    elseif c == "x" then items[#items + 1] = { kind = "pad" }
    elseif c == "s" then items[#items + 1] = { kind = "zstring" }
    elseif c == "c" then items[#items + 1] = { kind = "chars", n = n or 1 }
    elseif c == "f" or c == "d" then items[#items + 1] = { kind = "float", fmt = c, size = SIZES[c] }
    elseif SIZES[c] ~= nil or c == "i" or c == "I" then
      local size = SIZES[c] or n or 4
      if size < 1 or size > 8 then error("integral size " .. size .. " is not in [1,8]", 3) end
      local signed = c == "b" or c == "h" or c == "l" or c == "i"
      items[#items + 1] = { kind = "int", size = size, signed = signed }
    else error("invalid format option '" .. c .. "'", 3) end
  end
  return items
end

local function align_pad(offset, size, maxalign)
  local a = size < maxalign and size or maxalign
  if a <= 1 then return 0 end
  return (a - offset % a) % a
end

local function number_arg(v, n)
  local x = tonumber(v)
  if x == nil then error("bad argument #" .. n .. " to 'pack' (number expected, got " .. type(v) .. ")", 3) end
  return x
end

local struct = {}
struct.pack = function(fmt, ...)
  if type(fmt) ~= "string" then argerror(1, "pack", "string expected, got " .. type(fmt)) end
  local endian, maxalign, out, len, arg = "=", 1, {}, 0, 1
  local function put(piece)
    out[#out + 1] = piece
    len = len + #piece
  end
  for _, it in ipairs(struct_items(fmt)) do
    if it.kind == "endian" then endian = it.fmt
    elseif it.kind == "align" then maxalign = it.n
    elseif it.kind == "pad" then put("\\0")
    elseif it.kind == "zstring" then
      put(tostring((select(arg, ...))) .. "\\0")
      arg = arg + 1
    elseif it.kind == "chars" then
      local v = tostring((select(arg, ...)))
      arg = arg + 1
      if it.n == 0 then put(v)
      elseif #v >= it.n then put(ssub(v, 1, it.n))
      else put(v .. srep("\\0", it.n - #v)) end
    else
      local pad = align_pad(len, it.size, maxalign)
      if pad > 0 then put(srep("\\0", pad)) end
      local x = number_arg((select(arg, ...)), arg + 1)
      arg = arg + 1
      if it.kind == "float" then
        put(spack(endian .. it.fmt, x))
      else
        x = tointeger(x) or floor(x)
        if it.size < 8 then put(spack(endian .. "I" .. it.size, x & ((1 << (8 * it.size)) - 1)))
        else put(spack(endian .. "i8", x)) end
      end
    end
  end
  return concat(out)
end
struct.unpack = function(fmt, s, pos)
  if type(fmt) ~= "string" then argerror(1, "unpack", "string expected, got " .. type(fmt)) end
  if type(s) ~= "string" then argerror(2, "unpack", "string expected, got " .. type(s)) end
  local endian, maxalign, vals, i, last = "=", 1, {}, tointeger(pos) or 1, nil
  local function need(n)
    if i + n - 1 > #s then error("data string too short", 3) end
  end
  for _, it in ipairs(struct_items(fmt)) do
    if it.kind == "endian" then endian = it.fmt
    elseif it.kind == "align" then maxalign = it.n
    elseif it.kind == "pad" then
      need(1)
      i = i + 1
    elseif it.kind == "zstring" then
      local e = sfind(s, "\\0", i, true)
      if e == nil then error("unfinished string in data", 2) end
      vals[#vals + 1] = ssub(s, i, e - 1)
      i = e + 1
    elseif it.kind == "chars" then
      local n = it.n
      if n == 0 then
        n = tointeger(last)
        if n == nil then error("format 'c0' needs a previous size", 2) end
      end
      need(n)
      vals[#vals + 1] = ssub(s, i, i + n - 1)
      i = i + n
    else
      i = i + align_pad(i - 1, it.size, maxalign)
      need(it.size)
      local f = it.kind == "float" and it.fmt or ((it.signed and "i" or "I") .. it.size)
      local v
      v, i = sunpack(endian .. f, s, i)
      vals[#vals + 1] = v
      last = v
    end
  end
  vals[#vals + 1] = i
  return table.unpack(vals)
end
struct.size = function(fmt)
  if type(fmt) ~= "string" then argerror(1, "size", "string expected, got " .. type(fmt)) end
  local maxalign, n = 1, 0
  for _, it in ipairs(struct_items(fmt)) do
    if it.kind == "align" then maxalign = it.n
    elseif it.kind == "pad" then n = n + 1
    elseif it.kind == "chars" then n = n + it.n
    elseif it.kind == "zstring" then error("options 's' has no fixed size", 2)
    elseif it.kind ~= "endian" then n = n + align_pad(n, it.size, maxalign) + it.size end
  end
  return n
end

return bit, cjson, cmsgpack, struct
`;
