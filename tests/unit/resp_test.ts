import { expect, test } from "bun:test";
import fc from "fast-check";
import { ProtocolError, RespParser } from "../../redis/resp_parse.ts";
import { encodeReply, formatDouble, ReplyEncoder } from "../../redis/resp_encode.ts";
import {
  BoolReply,
  DoubleReply,
  ErrorReply,
  MapReply,
  NULL_ARRAY,
  OK,
  PushReply,
  type Reply,
  SetReply,
  SimpleReply,
  VerbatimReply,
} from "../../redis/reply.ts";

/** Bytes of a latin1 string. */
function bytes(s: string): Uint8Array {
  return Buffer.from(s, "latin1");
}

/** A latin1 string of bytes. */
function text(b: Uint8Array): string {
  return Buffer.from(b).toString("latin1");
}

/** RESP multibulk encoding of one command. */
function multibulk(args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${a.length}\r\n${a}\r\n`).join("");
}

/** Everything `next()` yields until it wants more bytes or fails. */
function drain(p: RespParser): (string[] | ProtocolError)[] {
  const out: (string[] | ProtocolError)[] = [];
  for (;;) {
    const r = p.next();
    if (r === null) return out;
    out.push(r);
    if (r instanceof ProtocolError) return out;
  }
}

/** Feeds `input` in one go and returns every result. */
function parseAll(input: string | Uint8Array, p = new RespParser()): (string[] | ProtocolError)[] {
  p.feed(typeof input === "string" ? bytes(input) : input);
  return drain(p);
}

/** Feeds `input` one byte at a time, draining after each byte. */
function parseByteByByte(input: string, p = new RespParser()): (string[] | ProtocolError)[] {
  const b = bytes(input);
  const out: (string[] | ProtocolError)[] = [];
  for (let i = 0; i < b.length; i++) {
    p.feed(b.subarray(i, i + 1));
    out.push(...drain(p));
    if (out[out.length - 1] instanceof ProtocolError) break;
  }
  return out;
}

/** The error message a parse ends with, or undefined. */
function errorOf(input: string, p = new RespParser()): string | undefined {
  const r = parseAll(input, p);
  const last = r[r.length - 1];
  return last instanceof ProtocolError ? last.message : undefined;
}

test("multibulk: single and pipelined commands", () => {
  expect(parseAll(multibulk(["PING"]))).toEqual([["PING"]]);
  const pipeline = multibulk(["SET", "k", "v"]) + multibulk(["GET", "k"]) + multibulk(["DEL", "", "x"]);
  expect(parseAll(pipeline)).toEqual([["SET", "k", "v"], ["GET", "k"], ["DEL", "", "x"]]);
});

test("multibulk: incomplete input returns null and resumes", () => {
  const p = new RespParser();
  p.feed(bytes("*2\r\n$3\r\nGET\r\n$3\r\nk"));
  expect(p.next()).toBeNull();
  p.feed(bytes("ey"));
  expect(p.next()).toBeNull(); // trailing CRLF not yet here
  p.feed(bytes("\r\n"));
  expect(p.next()).toEqual(["GET", "key"]);
  expect(p.next()).toBeNull();
  expect(p.bytesBuffered()).toBe(0);
});

test("multibulk: *0 and *-1 yield no command", () => {
  expect(parseAll("*0\r\n*-1\r\n" + multibulk(["PING"]) + "*0\r\n")).toEqual([["PING"]]);
  // The most negative long long is still a valid (empty) count; one less is not a number at all.
  expect(parseAll("*-9223372036854775808\r\n" + multibulk(["A"]))).toEqual([["A"]]);
  expect(errorOf("*-9223372036854775809\r\n")).toBe("Protocol error: invalid multibulk length");
});

test("pipeline split at every byte boundary parses identically", () => {
  const input = multibulk(["SET", "key:1", "value\r\nwith crlf"]) +
    "*0\r\n" +
    "PING\r\n" +
    "set a 'b c'\n" +
    "\r\n   \n" +
    multibulk([]) +
    multibulk(["MSET", "a", "1", "b", "2"]) +
    'echo "x\\ty"\r\n' +
    multibulk(["GET", "a".repeat(300)]);
  const expected = [
    ["SET", "key:1", "value\r\nwith crlf"],
    ["PING"],
    ["set", "a", "b c"],
    ["MSET", "a", "1", "b", "2"],
    ["echo", "x\ty"],
    ["GET", "a".repeat(300)],
  ];
  expect(parseAll(input)).toEqual(expected);
  expect(parseByteByByte(input)).toEqual(expected);
  // And at every single split point into two chunks.
  const b = bytes(input);
  for (let i = 0; i <= b.length; i++) {
    const p = new RespParser();
    p.feed(b.subarray(0, i));
    const out = drain(p);
    p.feed(b.subarray(i));
    out.push(...drain(p));
    expect(out).toEqual(expected);
  }
});

test("binary bytes 0..255 round trip", () => {
  let all = "";
  for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
  const args = ["SET", all, all + all];
  expect(parseAll(multibulk(args))).toEqual([args]);
  expect(parseByteByByte(multibulk(args))).toEqual([args]);
  // Through the encoder and back: a bulk reply carries the same bytes.
  const wire = encodeReply(all, 2);
  expect(text(wire)).toBe(`$256\r\n${all}\r\n`);
  expect(wire.length).toBe(256 + 8);
  for (let i = 0; i < 256; i++) expect(wire[6 + i]).toBe(i);
});

test("inline commands: splitting, quotes and escapes", () => {
  expect(parseAll("PING\r\n")).toEqual([["PING"]]);
  expect(parseAll("PING\n")).toEqual([["PING"]]);
  expect(parseAll("  set   key\tvalue  \r\n")).toEqual([["set", "key", "value"]]);
  expect(parseAll('SET k "hello world"\r\n')).toEqual([["SET", "k", "hello world"]]);
  expect(parseAll('SET k "a\\nb\\rc\\td\\be\\af\\\\g\\"h\\qi"\n')).toEqual([
    ["SET", "k", 'a\nb\rc\td\be\x07f\\g"hqi'],
  ]);
  expect(parseAll('SET k "\\x00\\xff\\x41\\xzz\\x4"\n')).toEqual([["SET", "k", "\x00\xffAxzzx4"]]);
  expect(parseAll("SET k 'it\\'s \"raw\" \\n'\n")).toEqual([["SET", "k", 'it\'s "raw" \\n']]);
  expect(parseAll('SET k ""\n')).toEqual([["SET", "k", ""]]);
  expect(parseAll("SET k ''\n")).toEqual([["SET", "k", ""]]);
  // A quote inside a word opens a quoted section that continues the same argument.
  expect(parseAll('SET k ab"c d"\n')).toEqual([["SET", "k", "abc d"]]);
  // \v and \f separate words between arguments but do not end an unquoted word.
  expect(parseAll("a\x0bb \x0cc\n")).toEqual([["a\x0bb", "c"]]);
  // Blank lines are skipped.
  expect(parseAll("\r\n\n   \r\n\t\nPING\n")).toEqual([["PING"]]);
  // A raw NUL ends the line as far as splitting goes (Redis works on a C string).
  expect(parseAll("GET a\x00b c\nPING\n")).toEqual([["GET", "a"], ["PING"]]);
  // Waits for the newline.
  const p = new RespParser();
  expect(parseAll("GET ke", p)).toEqual([]);
  expect(parseAll("y\r", p)).toEqual([]);
  expect(parseAll("\n", p)).toEqual([["GET", "key"]]);
});

test("inline: unbalanced quotes", () => {
  const msg = "Protocol error: unbalanced quotes in request";
  expect(errorOf('SET k "abc\n')).toBe(msg);
  expect(errorOf("SET k 'abc\n")).toBe(msg);
  expect(errorOf('SET k "abc"def\n')).toBe(msg);
  expect(errorOf("SET k 'abc'def\n")).toBe(msg);
  expect(errorOf('SET k "abc\\"\n')).toBe(msg);
  // A closing quote followed by whitespace or the end is fine.
  expect(parseAll('SET "k"\t"v"\n')).toEqual([["SET", "k", "v"]]);
});

test("protocol errors carry Redis's texts", () => {
  expect(errorOf("*abc\r\n")).toBe("Protocol error: invalid multibulk length");
  expect(errorOf("*+1\r\n")).toBe("Protocol error: invalid multibulk length");
  expect(errorOf("*01\r\n")).toBe("Protocol error: invalid multibulk length");
  expect(errorOf("*\r\n")).toBe("Protocol error: invalid multibulk length");
  expect(errorOf("* 1\r\n")).toBe("Protocol error: invalid multibulk length");
  expect(errorOf(`*${1024 * 1024 + 1}\r\n`)).toBe("Protocol error: invalid multibulk length");
  expect(errorOf(`*${1024 * 1024}\r\n`)).toBeUndefined();
  expect(errorOf("*2\r\n", new RespParser({ maxMultibulkLen: 1 }))).toBe(
    "Protocol error: invalid multibulk length",
  );

  expect(errorOf("*1\r\n$-1\r\n")).toBe("Protocol error: invalid bulk length");
  expect(errorOf("*1\r\n$abc\r\n")).toBe("Protocol error: invalid bulk length");
  expect(errorOf("*1\r\n$\r\n")).toBe("Protocol error: invalid bulk length");
  expect(errorOf("*1\r\n$99999999999999999999\r\n")).toBe("Protocol error: invalid bulk length");
  expect(errorOf("*1\r\n$11\r\n", new RespParser({ maxBulkLen: 10 }))).toBe(
    "Protocol error: invalid bulk length",
  );
  expect(errorOf("*1\r\n$10\r\n", new RespParser({ maxBulkLen: 10 }))).toBeUndefined();
  expect(errorOf(`*1\r\n$${512 * 1024 * 1024 + 1}\r\n`)).toBe("Protocol error: invalid bulk length");

  expect(errorOf("*1\r\nx\r\n")).toBe("Protocol error: expected '$', got 'x'");
  expect(errorOf("*2\r\n$1\r\na\r\n:1\r\n")).toBe("Protocol error: expected '$', got ':'");
  // CR/LF in an error text would break the reply line; Redis turns them into spaces.
  expect(errorOf("*1\r\n\r\n")).toBe("Protocol error: expected '$', got ' '");
  // The '$' check waits for the header's CR, as in Redis.
  expect(errorOf("*1\r\nx")).toBeUndefined();

  // The limit counts buffered bytes, '*' included: exactly 64 KiB without a CR is still tolerated.
  expect(errorOf("*" + "1".repeat(64 * 1024 - 1))).toBeUndefined();
  expect(errorOf("*" + "1".repeat(64 * 1024 + 1))).toBe("Protocol error: too big mbulk count string");
  expect(errorOf("*1\r\n$" + "1".repeat(64 * 1024 + 1))).toBe("Protocol error: too big bulk count string");
  expect(errorOf("GET " + "a".repeat(64 * 1024))).toBe("Protocol error: too big inline request");
  expect(errorOf("GET " + "a".repeat(100), new RespParser({ maxInlineLen: 100 }))).toBe(
    "Protocol error: too big inline request",
  );
  // A long inline line is fine as long as its newline has arrived.
  expect(parseAll("GET " + "a".repeat(100 * 1024) + "\n")).toEqual([["GET", "a".repeat(100 * 1024)]]);
  // Commands before the bad bytes still come out first.
  expect(parseAll(multibulk(["PING"]) + "*x\r\n").map((r) => (r instanceof ProtocolError ? r.message : r)))
    .toEqual([["PING"], "Protocol error: invalid multibulk length"]);
});

test("too-big errors also trigger when the line trickles in byte by byte", () => {
  expect(parseByteByByte("*" + "1".repeat(64 * 1024 + 10)).map((r) => (r as ProtocolError).message)).toEqual([
    "Protocol error: too big mbulk count string",
  ]);
  expect(parseByteByByte("GET " + "a".repeat(64 * 1024 + 10)).map((r) => (r as ProtocolError).message))
    .toEqual(["Protocol error: too big inline request"]);
});

test("the parser stays dead after an error", () => {
  const p = new RespParser();
  const e = parseAll("*x\r\n", p)[0];
  expect(e).toBeInstanceOf(ProtocolError);
  p.feed(bytes(multibulk(["PING"])));
  expect(p.next()).toBe(e);
  expect(p.next()).toBe(e);
  expect(p.bytesBuffered()).toBe(0);
});

test("declared lengths never reserve memory", () => {
  // Measured as growth: other test files in the same process leave their own heap behind.
  const before = process.memoryUsage().rss;
  const p = new RespParser();
  p.feed(bytes("*1000000\r\n"));
  expect(p.next()).toBeNull();
  expect(p.bytesBuffered()).toBe(0);
  p.feed(bytes("$536870912\r\n")); // the largest accepted bulk, announced but not sent
  expect(p.next()).toBeNull();
  expect(p.bytesBuffered()).toBe(0);
  expect(process.memoryUsage().rss - before).toBeLessThan(128 * 1024 * 1024);
  p.feed(bytes("abc"));
  expect(p.next()).toBeNull();
  expect(p.bytesBuffered()).toBe(3);

  const q = new RespParser();
  q.feed(bytes("*1\r\n"));
  expect(q.next()).toBeNull();
  q.feed(bytes("$1099511627776\r\n"));
  expect(q.bytesBuffered()).toBeLessThan(32);
  const r = q.next();
  expect(r).toBeInstanceOf(ProtocolError);
  expect((r as ProtocolError).message).toBe("Protocol error: invalid bulk length");
});

test("a big bulk arriving in pieces is assembled exactly", () => {
  const big = "x".repeat(3 * 1024 * 1024 + 7);
  const wire = bytes(multibulk(["SET", "k", big]) + multibulk(["PING"]));
  const p = new RespParser();
  const out: (string[] | ProtocolError)[] = [];
  for (let i = 0; i < wire.length; i += 65536) {
    p.feed(wire.subarray(i, i + 65536));
    out.push(...drain(p));
  }
  expect(out.length).toBe(2);
  expect((out[0] as string[])[2] === big).toBe(true);
  expect(out[1]).toEqual(["PING"]);
  expect(p.bytesBuffered()).toBe(0);
});

test("property: random commands in random chunks parse back identically", () => {
  const arg = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString("latin1"));
  const cmd = fc.array(arg, { minLength: 1, maxLength: 6 });
  fc.assert(
    fc.property(
      fc.array(cmd, { maxLength: 12 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }),
      (
        cmds,
        sizes,
      ) => {
        const wire = bytes(cmds.map(multibulk).join(""));
        const p = new RespParser();
        const out: (string[] | ProtocolError)[] = [];
        let off = 0;
        for (let i = 0; off < wire.length; i++) {
          const n = sizes[i % sizes.length];
          p.feed(wire.subarray(off, off + n));
          off += n;
          out.push(...drain(p));
        }
        expect(out).toEqual(cmds);
        expect(p.bytesBuffered()).toBe(0);
      },
    ),
    { numRuns: 300 },
  );
});

/** Encodes `r` in both protocols as latin1 text. */
function both(r: Reply): [string, string] {
  return [text(encodeReply(r, 2)), text(encodeReply(r, 3))];
}

test("encoder: plain values", () => {
  expect(both("hello")).toEqual(["$5\r\nhello\r\n", "$5\r\nhello\r\n"]);
  expect(both("")).toEqual(["$0\r\n\r\n", "$0\r\n\r\n"]);
  expect(both("a".repeat(100))).toEqual([`$100\r\n${"a".repeat(100)}\r\n`, `$100\r\n${"a".repeat(100)}\r\n`]);
  expect(both(0)).toEqual([":0\r\n", ":0\r\n"]);
  expect(both(42)).toEqual([":42\r\n", ":42\r\n"]);
  expect(both(-7)).toEqual([":-7\r\n", ":-7\r\n"]);
  expect(both(1234567890123)).toEqual([":1234567890123\r\n", ":1234567890123\r\n"]);
  expect(both(Number.MAX_SAFE_INTEGER)).toEqual([":9007199254740991\r\n", ":9007199254740991\r\n"]);
  expect(both(-9223372036854775808n)).toEqual([":-9223372036854775808\r\n", ":-9223372036854775808\r\n"]);
  expect(both(2 ** 60)).toEqual([":1152921504606846976\r\n", ":1152921504606846976\r\n"]);
  expect(() => encodeReply(1.5, 2)).toThrow();
  expect(both(null)).toEqual(["$-1\r\n", "_\r\n"]);
  expect(both(NULL_ARRAY)).toEqual(["*-1\r\n", "_\r\n"]);
  expect(both([])).toEqual(["*0\r\n", "*0\r\n"]);
  expect(both(["a", 1, null, ["b"]])).toEqual([
    "*4\r\n$1\r\na\r\n:1\r\n$-1\r\n*1\r\n$1\r\nb\r\n",
    "*4\r\n$1\r\na\r\n:1\r\n_\r\n*1\r\n$1\r\nb\r\n",
  ]);
});

test("encoder: status, error and RESP3 types", () => {
  expect(both(OK)).toEqual(["+OK\r\n", "+OK\r\n"]);
  expect(both(new SimpleReply("a\r\nb"))).toEqual(["+a  b\r\n", "+a  b\r\n"]);
  expect(both(new ErrorReply("ERR syntax error"))).toEqual([
    "-ERR syntax error\r\n",
    "-ERR syntax error\r\n",
  ]);
  expect(both(new ErrorReply("ERR bad\r\nthing\n"))).toEqual([
    "-ERR bad  thing \r\n",
    "-ERR bad  thing \r\n",
  ]);
  expect(both(new MapReply(["k", 1, "j", null]))).toEqual([
    "*4\r\n$1\r\nk\r\n:1\r\n$1\r\nj\r\n$-1\r\n",
    "%2\r\n$1\r\nk\r\n:1\r\n$1\r\nj\r\n_\r\n",
  ]);
  expect(both(new SetReply(["a", "b"]))).toEqual([
    "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    "~2\r\n$1\r\na\r\n$1\r\nb\r\n",
  ]);
  expect(both(new PushReply(["message", "ch", "hi"]))).toEqual([
    "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
    ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
  ]);
  expect(both(new BoolReply(true))).toEqual([":1\r\n", "#t\r\n"]);
  expect(both(new BoolReply(false))).toEqual([":0\r\n", "#f\r\n"]);
  expect(both(new VerbatimReply("txt", "hello\r\nworld"))).toEqual([
    "$12\r\nhello\r\nworld\r\n",
    "=16\r\ntxt:hello\r\nworld\r\n",
  ]);
  expect(both(new DoubleReply(1.5))).toEqual(["$3\r\n1.5\r\n", ",1.5\r\n"]);
  expect(both(new DoubleReply(3))).toEqual(["$1\r\n3\r\n", ",3\r\n"]);
  expect(both(new DoubleReply(Infinity))).toEqual(["$3\r\ninf\r\n", ",inf\r\n"]);
  expect(both(new DoubleReply(-Infinity))).toEqual(["$4\r\n-inf\r\n", ",-inf\r\n"]);
  expect(both(new DoubleReply(NaN))).toEqual(["$3\r\nnan\r\n", ",nan\r\n"]);
  // Nested RESP3 values inside RESP2 containers degrade recursively.
  expect(both([new MapReply([new BoolReply(true), new DoubleReply(0.5)])])).toEqual([
    "*1\r\n*2\r\n:1\r\n$3\r\n0.5\r\n",
    "*1\r\n%1\r\n#t\r\n,0.5\r\n",
  ]);
});

test("formatDouble matches Redis's d2string layout", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [-0, "-0"],
    [1, "1"],
    [-3, "-3"],
    [1.5, "1.5"],
    [0.1, "0.1"],
    [-0.25, "-0.25"],
    [3.14159, "3.14159"],
    [0.1 + 0.2, "0.30000000000000004"],
    [1e-6, "0.000001"],
    [1.5e-6, "1.5e-6"], // fpconv: 7 digits after the point is past its plain-decimal range
    [1e-7, "1e-7"],
    [1.25e-10, "1.25e-10"],
    [1e18, "1000000000000000000"],
    [2 ** 62, "4611686018427387904"],
    [1e19, "1e+19"],
    [1.5e300, "1.5e+300"],
    [12345.678, "12345.678"],
    [1234.56789012345, "1234.56789012345"],
    [12345.6789012345, "1.23456789012345e+4"],
    [5e-324, "5e-324"],
    [Number.MAX_VALUE, "1.7976931348623157e+308"],
  ];
  for (const [d, s] of cases) expect([d, formatDouble(d)]).toEqual([d, s]);
  // Whatever the layout, the text parses back to the same double.
  fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
    expect(Object.is(Number(formatDouble(d)), d)).toBe(true);
  }));
});

test("encoder accumulates, take() resets and returns keepable bytes", () => {
  const e = new ReplyEncoder();
  expect(e.size()).toBe(0);
  e.write(OK, 2);
  e.write(5, 2);
  expect(e.size()).toBe(9);
  const first = e.take();
  expect(text(first)).toBe("+OK\r\n:5\r\n");
  expect(e.size()).toBe(0);
  e.write("zz", 3);
  const second = e.take();
  expect(text(second)).toBe("$2\r\nzz\r\n");
  expect(text(first)).toBe("+OK\r\n:5\r\n"); // untouched by later writes
  // Large output (past the internal buffer and the hand-off threshold) stays intact too.
  const big = "y".repeat(200 * 1024);
  for (let i = 0; i < 3; i++) e.write(big, 2);
  const third = e.take();
  e.write("after", 2);
  expect(third.length).toBe(3 * ("$204800\r\n".length + big.length + 2));
  expect(text(third)).toBe(`$${big.length}\r\n${big}\r\n`.repeat(3));
  expect(text(e.take())).toBe("$5\r\nafter\r\n");
});

test("encoder output parses back through the request parser", () => {
  const args = ["SET", "k\x00\xff", "", "v".repeat(70)];
  const p = new RespParser();
  p.feed(encodeReply(args, 2));
  expect(p.next()).toEqual(args);
});
