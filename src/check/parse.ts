/**
 * Readers for the history formats of porcupine's test data (see
 * /work/shared/porcupine-test-data/README.md):
 *
 * - kv histories, one EDN map per line:
 *     {:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}
 * - Jepsen etcd logs, one event per line (fields separated by whitespace, usually tabs):
 *     INFO  jepsen.util - 3	:invoke	:cas	[3 0]
 *
 * Both are Jepsen histories: each process runs one operation at a time, so an `:invoke` is paired
 * with the next `:ok`, `:fail` or `:info` of the same process. Times are line numbers, which keeps
 * exactly the order the log recorded. How each completion is read:
 *
 * - `:ok`: completed; the output is what the line reports.
 * - `:fail` of a cas: the comparison failed, an observed result (output `ok: false`), as the
 *   etcd test reports it and as porcupine reads it.
 * - `:fail` of a read: nothing observed (Jepsen logs `:fail :read :timed-out`); the read returns
 *   here with an unknown output, which constrains nothing.
 * - `:fail` of any other operation: it certainly did not happen, so it is left out.
 * - `:info`, or no completion before the end of the log: the outcome is unknown. The operation
 *   keeps its call time and gets `return: Infinity` with an unknown output, so it may take effect
 *   at any later point, or never.
 */
import type { KvInput, KvOutput, RegisterInput, RegisterOutput } from './kv-model.js';
import type { Operation } from './model.js';

export class ParseError extends Error {
  override readonly name = 'ParseError';
}

// ---------------------------------------------------------------------------------------------
// A small EDN reader: enough for one-line Jepsen maps.

/** An EDN keyword such as `:invoke` (kept distinct from the string "invoke"). */
export class Keyword {
  constructor(readonly name: string) {}
  toString(): string {
    return `:${this.name}`;
  }
}

export type EdnValue = null | boolean | number | string | Keyword | EdnValue[] | EdnMap;
export interface EdnMap {
  readonly [key: string]: EdnValue;
}

const DELIMS = new Set([' ', '\t', '\r', '\n', ',', '{', '}', '[', ']', '(', ')', '"']);

/** Read one EDN value (maps with keyword keys, vectors, lists, strings, numbers, keywords, nil). */
export function parseEdn(text: string): EdnValue {
  let pos = 0;
  const fail = (what: string): never => {
    throw new ParseError(`EDN: ${what} at column ${pos + 1}`);
  };
  const skip = (): void => {
    while (pos < text.length) {
      const c = text[pos];
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === ',') pos++;
      else if (c === ';') {
        while (pos < text.length && text[pos] !== '\n') pos++;
      } else break;
    }
  };
  const token = (): string => {
    const start = pos;
    while (pos < text.length && !DELIMS.has(text[pos])) pos++;
    return text.slice(start, pos);
  };
  const readSeq = (close: string): EdnValue[] => {
    const items: EdnValue[] = [];
    for (;;) {
      skip();
      if (pos >= text.length) fail(`missing '${close}'`);
      if (text[pos] === close) {
        pos++;
        return items;
      }
      items.push(read());
    }
  };
  const read = (): EdnValue => {
    skip();
    if (pos >= text.length) return fail('unexpected end of input');
    const c = text[pos];
    if (c === '{') {
      pos++;
      const items = readSeq('}');
      if (items.length % 2 !== 0) fail('map with an odd number of forms');
      const map: Record<string, EdnValue> = {};
      for (let i = 0; i < items.length; i += 2) {
        const k = items[i];
        const key = k instanceof Keyword ? k.name : typeof k === 'string' ? k : fail('map key must be a keyword or string');
        map[key] = items[i + 1];
      }
      return map;
    }
    if (c === '[') {
      pos++;
      return readSeq(']');
    }
    if (c === '(') {
      pos++;
      return readSeq(')');
    }
    if (c === '"') {
      pos++;
      let out = '';
      for (;;) {
        if (pos >= text.length) fail('unterminated string');
        const ch = text[pos++];
        if (ch === '"') return out;
        if (ch !== '\\') {
          out += ch;
          continue;
        }
        const esc = text[pos++];
        if (esc === 'n') out += '\n';
        else if (esc === 't') out += '\t';
        else if (esc === 'r') out += '\r';
        else if (esc === '"' || esc === '\\') out += esc;
        else if (esc === 'u') {
          const hex = text.slice(pos, pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 4;
        } else fail(`unknown escape \\${esc ?? ''}`);
      }
    }
    if (c === '}' || c === ']' || c === ')') return fail(`unexpected '${c}'`);
    const t = token();
    if (t.startsWith(':')) {
      if (t.length === 1) fail('empty keyword');
      return new Keyword(t.slice(1));
    }
    if (t === 'nil') return null;
    if (t === 'true') return true;
    if (t === 'false') return false;
    if (/^[-+]?\d+(\.\d+)?([eE][-+]?\d+)?N?M?$/.test(t)) return Number(t.replace(/[NM]$/, ''));
    return t; // a bare symbol: keep its text
  };
  const v = read();
  skip();
  if (pos !== text.length) fail('trailing input');
  return v;
}

// ---------------------------------------------------------------------------------------------
// Pairing Jepsen events into operations

type JepsenType = 'invoke' | 'ok' | 'fail' | 'info';

interface RawEvent {
  readonly line: number;
  readonly process: number;
  readonly type: JepsenType;
  readonly f: string;
  readonly value: EdnValue;
}

interface Codec<I, O> {
  input(e: RawEvent): I;
  /** The output of a completion; 'drop' removes the operation. */
  complete(e: RawEvent, input: I): O | 'drop';
  readonly unknown: O;
}

function pair<I, O>(events: readonly RawEvent[], codec: Codec<I, O>, where: (line: number) => string): Operation<I, O>[] {
  const open = new Map<number, { input: I; call: number; f: string; slot: number }>();
  // Slots keep operations in invocation order; dropped ones leave a hole that is filtered out.
  const slots: (Operation<I, O> | null)[] = [];
  for (const e of events) {
    const pending = open.get(e.process);
    if (e.type === 'invoke') {
      if (pending !== undefined) {
        throw new ParseError(
          `${where(e.line)}: process ${e.process} invokes :${e.f} while its :${pending.f} from line ${pending.call + 1} is still open`,
        );
      }
      open.set(e.process, { input: codec.input(e), call: e.line, f: e.f, slot: slots.length });
      slots.push(null);
      continue;
    }
    if (pending === undefined) {
      throw new ParseError(`${where(e.line)}: :${e.type} for process ${e.process}, which has no open invocation`);
    }
    if (pending.f !== e.f) {
      throw new ParseError(`${where(e.line)}: :${e.type} :${e.f} completes an :invoke :${pending.f}`);
    }
    open.delete(e.process);
    if (e.type === 'info') {
      slots[pending.slot] = { clientId: e.process, input: pending.input, call: pending.call, output: codec.unknown, return: Infinity };
      continue;
    }
    const output = codec.complete(e, pending.input);
    if (output === 'drop') continue;
    slots[pending.slot] = { clientId: e.process, input: pending.input, call: pending.call, output, return: e.line };
  }
  for (const [process, p] of open) {
    slots[p.slot] = { clientId: process, input: p.input, call: p.call, output: codec.unknown, return: Infinity };
  }
  return slots.filter((s): s is Operation<I, O> => s !== null);
}

function locator(source: string | undefined): (line: number) => string {
  return (line) => `${source ?? 'history'}:${line + 1}`;
}

function keywordName(v: EdnValue | undefined): string | undefined {
  return v instanceof Keyword ? v.name : undefined;
}

function asType(v: string | undefined, at: string): JepsenType {
  if (v === 'invoke' || v === 'ok' || v === 'fail' || v === 'info') return v;
  throw new ParseError(`${at}: :type must be :invoke, :ok, :fail or :info, not ${v === undefined ? 'missing' : `:${v}`}`);
}

// ---------------------------------------------------------------------------------------------
// kv histories

export interface ParseOptions {
  /** A file name for error messages. */
  readonly source?: string;
}

/**
 * Parse a kv history (porcupine's test_data/kv format). Supported :f values: :get, :put,
 * :append, :delete, and :cas with `:value [expected new]` (expected nil: "only if absent").
 */
export function parseKvHistory(text: string, options: ParseOptions = {}): Operation<KvInput, KvOutput>[] {
  const where = locator(options.source);
  const lines = text.split('\n');
  const events: RawEvent[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith(';')) continue;
    let v: EdnValue;
    try {
      v = parseEdn(line);
    } catch (err) {
      throw new ParseError(`${where(i)}: ${(err as Error).message}`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Keyword) {
      throw new ParseError(`${where(i)}: expected a map like {:process 0, :type :invoke, ...}`);
    }
    const m = v as EdnMap;
    const process = m['process'];
    if (typeof process !== 'number' || !Number.isInteger(process)) {
      if (keywordName(process) !== undefined) continue; // :nemesis and friends
      throw new ParseError(`${where(i)}: :process must be an integer`);
    }
    const f = keywordName(m['f']);
    if (f === undefined) throw new ParseError(`${where(i)}: :f must be a keyword`);
    events.push({ line: i, process, type: asType(keywordName(m['type']), where(i)), f, value: m });
  }

  const str = (m: EdnMap, field: string, e: RawEvent): string => {
    const x = m[field];
    if (typeof x !== 'string') throw new ParseError(`${where(e.line)}: :${field} must be a string for :${e.f}`);
    return x;
  };
  const codec: Codec<KvInput, KvOutput> = {
    unknown: { unknown: true },
    input(e) {
      const m = e.value as EdnMap;
      const key = str(m, 'key', e);
      switch (e.f) {
        case 'get':
          return { op: 'get', key };
        case 'put':
          return { op: 'put', key, value: str(m, 'value', e) };
        case 'append':
          return { op: 'append', key, value: str(m, 'value', e) };
        case 'delete':
          return { op: 'delete', key };
        case 'cas': {
          const pairv = m['value'];
          if (!Array.isArray(pairv) || pairv.length !== 2) {
            throw new ParseError(`${where(e.line)}: :cas needs :value [expected new]`);
          }
          const [expected, value] = pairv;
          if ((expected !== null && typeof expected !== 'string') || typeof value !== 'string') {
            throw new ParseError(`${where(e.line)}: :cas values must be strings (expected may be nil)`);
          }
          return { op: 'cas', key, expected, value };
        }
        default:
          throw new ParseError(`${where(e.line)}: unknown kv operation :${e.f}`);
      }
    },
    complete(e, input) {
      const m = e.value as EdnMap;
      if (e.type === 'fail') {
        if (input.op === 'cas') return { ok: false };
        if (input.op === 'get') return { unknown: true };
        return 'drop';
      }
      switch (input.op) {
        case 'get': {
          const x = m['value'];
          if (x !== null && typeof x !== 'string') throw new ParseError(`${where(e.line)}: :get result must be a string or nil`);
          return { value: x ?? '' };
        }
        case 'cas':
          return { ok: true };
        case 'delete': {
          const x = m['value'];
          return typeof x === 'boolean' ? { existed: x } : {};
        }
        default:
          return {};
      }
    },
  };
  return pair(events, codec, where);
}

// ---------------------------------------------------------------------------------------------
// Jepsen etcd register logs

const JEPSEN_LINE = /^\S+\s+jepsen\.util\s+-\s+(\S+)\s+:(\w+)\s+:(\w+)\s*(.*)$/;

function parseInt32(v: EdnValue, what: string, at: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ParseError(`${at}: ${what} must be an integer`);
  return v;
}

/**
 * Parse a Jepsen etcd register log (porcupine's test_data/jepsen format): :read, :write and
 * :cas [from to] on one register. Lines that are not jepsen.util events, and events of non-numeric
 * processes (the nemesis), are skipped.
 */
export function parseJepsenRegisterLog(
  text: string,
  options: ParseOptions = {},
): Operation<RegisterInput, RegisterOutput>[] {
  const where = locator(options.source);
  const lines = text.split('\n');
  const events: RawEvent[] = [];
  for (let i = 0; i < lines.length; i++) {
    const match = JEPSEN_LINE.exec(lines[i].trim());
    if (match === null) continue;
    const [, proc, type, f, rest] = match;
    if (!/^\d+$/.test(proc)) continue;
    let value: EdnValue;
    try {
      value = rest.trim() === '' ? null : parseEdn(rest.trim());
    } catch (err) {
      throw new ParseError(`${where(i)}: ${(err as Error).message}`);
    }
    events.push({ line: i, process: Number(proc), type: asType(type, where(i)), f, value });
  }

  const codec: Codec<RegisterInput, RegisterOutput> = {
    unknown: { unknown: true },
    input(e) {
      const at = where(e.line);
      switch (e.f) {
        case 'read':
          return { op: 'read' };
        case 'write':
          return { op: 'write', value: parseInt32(e.value, ':write value', at) };
        case 'cas': {
          if (!Array.isArray(e.value) || e.value.length !== 2) throw new ParseError(`${at}: :cas needs [from to]`);
          return { op: 'cas', from: parseInt32(e.value[0], ':cas from', at), to: parseInt32(e.value[1], ':cas to', at) };
        }
        default:
          throw new ParseError(`${at}: unknown register operation :${e.f}`);
      }
    },
    complete(e, input) {
      if (e.type === 'fail') {
        if (input.op === 'cas') return { ok: false };
        if (input.op === 'read') return { unknown: true };
        return 'drop';
      }
      switch (input.op) {
        case 'read':
          return { value: e.value === null ? null : parseInt32(e.value, ':read result', where(e.line)) };
        case 'cas':
          return { ok: true };
        default:
          return {};
      }
    },
  };
  return pair(events, codec, where);
}
