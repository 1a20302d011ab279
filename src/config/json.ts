/**
 * A strict RFC 8259 JSON parser for config files.
 *
 * Why not JSON.parse: its error messages carry no reliable line/column across Node versions, and it
 * silently keeps the last of two equal keys, so a second "profiles" or "dist" would hide the first
 * without a word. This parser reports both with a position, and names hand-editing slips (comments,
 * trailing commas, single quotes) plainly.
 *
 * Objects are plain objects whose properties are defined, never assigned, so a "__proto__" key is
 * an ordinary own key (which validation then rejects as unknown) and cannot touch any prototype.
 */

export class JsonSyntaxError extends Error {
  /** 1-based line and column (column in UTF-16 code units) of the offending character. */
  readonly line: number;
  readonly column: number;
  constructor(message: string, line: number, column: number) {
    super(message);
    this.name = 'JsonSyntaxError';
    this.line = line;
    this.column = column;
  }
}

const MAX_DEPTH = 512;

export function parseJson(text: string): unknown {
  return new Parser(text).parseDocument();
}

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    // A UTF-8 byte order mark (Windows editors add one) is not part of the document.
    if (this.text.charCodeAt(0) === 0xfeff) this.pos = 1;
    this.skipSpace();
    if (this.pos >= this.text.length) this.fail('the file is empty');
    const value = this.parseValue();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail(`unexpected ${this.describeHere()} after the end of the JSON value`);
    return value;
  }

  private parseValue(): unknown {
    const c = this.text[this.pos];
    switch (c) {
      case '{':
        return this.parseObject();
      case '[':
        return this.parseArray();
      case '"':
        return this.parseString();
      case 't':
        return this.parseLiteral('true', true);
      case 'f':
        return this.parseLiteral('false', false);
      case 'n':
        return this.parseLiteral('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.parseNumber();
        this.failUnexpected('a value');
    }
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) this.fail(`nested more than ${MAX_DEPTH} levels deep`);
  }

  private parseObject(): Record<string, unknown> {
    this.enter();
    const obj: Record<string, unknown> = {};
    const seen = new Set<string>();
    this.pos++; // '{'
    this.skipSpace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      this.depth--;
      return obj;
    }
    for (;;) {
      if (this.text[this.pos] !== '"') this.failUnexpected('a key in double quotes');
      const keyPos = this.pos;
      const key = this.parseString();
      if (seen.has(key)) this.fail(`duplicate key ${JSON.stringify(key)}`, keyPos);
      seen.add(key);
      this.skipSpace();
      if (this.text[this.pos] !== ':') this.failUnexpected('":" after the key');
      this.pos++;
      this.skipSpace();
      const value = this.parseValue();
      Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === '}') {
        this.pos++;
        this.depth--;
        return obj;
      }
      if (c !== ',') this.failUnexpected('"," or "}"');
      const commaPos = this.pos;
      this.pos++;
      this.skipSpace();
      if (this.text[this.pos] === '}') this.fail('trailing comma before "}"', commaPos);
    }
  }

  private parseArray(): unknown[] {
    this.enter();
    const arr: unknown[] = [];
    this.pos++; // '['
    this.skipSpace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      this.depth--;
      return arr;
    }
    for (;;) {
      arr.push(this.parseValue());
      this.skipSpace();
      const c = this.text[this.pos];
      if (c === ']') {
        this.pos++;
        this.depth--;
        return arr;
      }
      if (c !== ',') this.failUnexpected('"," or "]"');
      const commaPos = this.pos;
      this.pos++;
      this.skipSpace();
      if (this.text[this.pos] === ']') this.fail('trailing comma before "]"', commaPos);
    }
  }

  private parseString(): string {
    const start = this.pos;
    this.pos++; // opening quote
    let out = '';
    let chunkStart = this.pos;
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated string', start);
      const code = this.text.charCodeAt(this.pos);
      if (code === 0x22) {
        out += this.text.slice(chunkStart, this.pos);
        this.pos++;
        return out;
      }
      if (code < 0x20) {
        this.fail(code === 0x0a ? 'unterminated string (a line break inside a string must be written \\n)' : 'control character inside a string');
      }
      if (code !== 0x5c) {
        this.pos++;
        continue;
      }
      out += this.text.slice(chunkStart, this.pos);
      const esc = this.text[this.pos + 1];
      switch (esc) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const hex = this.text.slice(this.pos + 2, this.pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape: expected four hex digits');
          out += String.fromCharCode(parseInt(hex, 16));
          this.pos += 4;
          break;
        }
        default:
          // The commonest cause is a Windows path: say so.
          this.fail(`invalid escape "\\${esc ?? ''}" in a string (write a backslash as \\\\, or use "/" in paths)`);
      }
      this.pos += 2;
      chunkStart = this.pos;
    }
  }

  private parseNumber(): number {
    const re = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (m === null) this.fail('invalid number');
    const end = this.pos + m[0].length;
    const next = this.text[end];
    if (next !== undefined && /[0-9A-Za-z.+\-_]/.test(next)) this.fail('invalid number');
    this.pos = end;
    return Number(m[0]);
  }

  private parseLiteral<T>(word: string, value: T): T {
    if (this.text.startsWith(word, this.pos)) {
      const next = this.text[this.pos + word.length];
      if (next === undefined || !/[A-Za-z0-9_$]/.test(next)) {
        this.pos += word.length;
        return value;
      }
    }
    this.failUnexpected('a value');
  }

  private skipSpace(): void {
    for (;;) {
      const c = this.text[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.pos++;
      else return;
    }
  }

  private describeHere(): string {
    const c = this.text[this.pos];
    if (c === undefined) return 'end of file';
    const word = /^[A-Za-z_$][\w$]*/.exec(this.text.slice(this.pos, this.pos + 40));
    if (word !== null) return JSON.stringify(word[0]);
    return JSON.stringify(String.fromCodePoint(this.text.codePointAt(this.pos) ?? 0));
  }

  private failUnexpected(expected: string): never {
    const c = this.text[this.pos];
    const next = this.text[this.pos + 1];
    if (c === '/' && (next === '/' || next === '*')) this.fail('comments are not allowed in JSON');
    if (c === "'") this.fail('strings and keys must use double quotes, not single quotes');
    if (expected === 'a key in double quotes' && c !== undefined && /[A-Za-z_$]/.test(c)) {
      this.fail(`keys must be in double quotes (found ${this.describeHere()})`);
    }
    this.fail(`expected ${expected}, found ${this.describeHere()}`);
  }

  private fail(message: string, at: number = this.pos): never {
    let line = 1;
    let lineStart = this.text.charCodeAt(0) === 0xfeff ? 1 : 0;
    for (let i = 0; i < at && i < this.text.length; i++) {
      if (this.text.charCodeAt(i) === 0x0a) {
        line++;
        lineStart = i + 1;
      }
    }
    throw new JsonSyntaxError(message, line, at - lineStart + 1);
  }
}
